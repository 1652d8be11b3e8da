// The SSH layer against real hosts (test/e2e/harness): one sshd per host, in its own netns.
import { createHash, randomBytes } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { copyFile, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { main } from "../../src/cli/main.ts";
import { type HostConfig, HostSchema } from "../../src/config/hostsFile.ts";
import {
  CommandTimeoutError,
  ConnectionLostError,
  HostKeyMismatchError,
  HostKeyUnknownError,
  UnreachableError,
} from "../../src/deploy/ssh/errors.ts";
import { SshPool, type SshPoolOptions } from "../../src/deploy/ssh/pool.ts";
import { type Harness, hostEntry, run, startHarness, type TestHost } from "./harness/harness.ts";

let h: Harness;
let tmp: string;
const pools: SshPool[] = [];

function cfg(t: TestHost, over: Record<string, unknown> = {}): HostConfig {
  return HostSchema.parse(hostEntry(t, over));
}

function pool(hosts: HostConfig[], opts: SshPoolOptions = {}): SshPool {
  const p = new SshPool(hosts, { readyTimeoutMs: 5_000, killGraceMs: 1_000, ...opts });
  pools.push(p);
  return p;
}

/** Established TCP connections to the host's sshd, counted inside its netns (the server's view). */
async function sshdConnections(t: TestHost): Promise<number> {
  const res = await run("ip", [
    "netns",
    "exec",
    t.netns as string,
    "ss",
    "-Htn",
    "state",
    "established",
    "( sport = :22 )",
  ]);
  expect(res.code, res.stderr).toBe(0);
  return res.stdout.split("\n").filter((l) => l.trim()).length;
}

/** Logins the host's sshd accepted so far (its log, LogLevel VERBOSE). */
function acceptedLogins(t: TestHost): string[] {
  const log = path.join(h.dir, t.name, "ssh", "sshd.log");
  return readFileSync(log, "utf8")
    .split("\n")
    .filter((l) => l.includes("Accepted publickey"));
}

async function remoteProcesses(t: TestHost, pattern: string): Promise<string[]> {
  const res = await run("pgrep", ["-u", t.user, "-f", pattern]);
  return res.stdout.split("\n").filter((l) => l.trim());
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  const t0 = Date.now();
  h = await startHarness({ hosts: 3 });
  tmp = await mkdtemp(path.join(tmpdir(), "sp-ssh-e2e-"));
  console.log(`harness up in ${Date.now() - t0} ms`);
});
afterEach(async () => {
  await Promise.all(pools.splice(0).map((p) => p.close()));
});
afterAll(async () => {
  await h?.stop();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

describe("SshPool on real hosts", () => {
  it("runs commands and returns stdout, stderr, exit codes and signals", async () => {
    const [h1] = h.hosts as [TestHost];
    const p = pool([cfg(h1)]);
    const res = await p.exec("h1", 'echo out; echo "to err" >&2; id -un; exit 7');
    expect(res).toMatchObject({ code: 7, stdout: `out\n${h1.user}\n`, stderr: "to err\n" });
    expect(res.durationMs).toBeGreaterThanOrEqual(0);

    expect(await p.exec("h1", "true")).toMatchObject({ code: 0, stdout: "", stderr: "" });
    const killed = await p.exec("h1", "kill -TERM $$");
    expect(killed).toMatchObject({ code: null, signal: "SIGTERM" });

    const chunks: string[] = [];
    const streamed = await p.exec(
      "h1",
      "printf 'a\\n'; sleep 0.2; printf 'b\\n' >&2; sleep 0.2; printf 'é'",
      {
        onData: (c, s) => chunks.push(`${s}:${c}`),
      },
    );
    expect(streamed.stdout).toBe("a\né");
    expect(chunks).toEqual(["stdout:a\n", "stderr:b\n", "stdout:é"]);

    const big = await p.exec("h1", "head -c 300000 /dev/zero | tr '\\0' x", { maxOutputBytes: 1000 });
    expect(big.stdout).toBe("x".repeat(1000));
    expect(big.truncated).toEqual({ stdout: 299_000, stderr: 0 });

    const input = await p.exec("h1", "tr a-z A-Z", { stdin: "hello\n" });
    expect(input.stdout).toBe("HELLO\n");
    expect(p.stats("h1").connects).toBe(1);
  });

  it("shares one connection per host across many concurrent commands, within the channel limits", async () => {
    const logins = h.hosts.map((t) => acceptedLogins(t).length);
    const p = pool(
      h.hosts.map((t) => cfg(t)),
      { perHost: 4, total: 10 },
    );
    let maxPerHost = 0;
    let maxTotal = 0;
    const sampler = setInterval(() => {
      const inFlight = h.hosts.map((t) => p.stats(t.name).inFlight);
      maxPerHost = Math.max(maxPerHost, ...inFlight);
      maxTotal = Math.max(
        maxTotal,
        inFlight.reduce((a, b) => a + b, 0),
      );
    }, 5);
    const counted: number[] = [];
    const runs = h.hosts.flatMap((t) =>
      Array.from({ length: 25 }, (_, i) => p.exec(t.name, `sleep 0.1; echo ${t.name}-${i}`)),
    );
    // While commands run, each sshd sees exactly one TCP connection from us.
    await sleep(300);
    for (const t of h.hosts) counted.push(await sshdConnections(t));
    const results = await Promise.all(runs);
    clearInterval(sampler);

    expect(results.map((r) => r.stdout.trim())).toEqual(
      h.hosts.flatMap((t) => Array.from({ length: 25 }, (_, i) => `${t.name}-${i}`)),
    );
    expect(counted).toEqual([1, 1, 1]);
    for (const [i, t] of h.hosts.entries()) {
      expect(p.stats(t.name)).toMatchObject({ connects: 1, connected: true, inFlight: 0, queued: 0 });
      expect(acceptedLogins(t).length - (logins[i] as number)).toBe(1);
    }
    expect(maxPerHost).toBe(4);
    expect(maxTotal).toBeLessThanOrEqual(10);
    expect(maxTotal).toBeGreaterThanOrEqual(8);
  });

  it("streams a 5 MB stdin intact, and with backpressure", async () => {
    const h2 = h.host("h2");
    const p = pool([cfg(h2)]);
    const data = randomBytes(5 * 1024 * 1024);
    const chunks = Array.from({ length: 80 }, (_, i) => data.subarray(i * 65536, (i + 1) * 65536));
    const res = await p.exec("h2", "sha256sum", { stdin: Readable.from(chunks) });
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout.split(" ")[0]).toBe(createHash("sha256").update(data).digest("hex"));

    // A reader that starts late: the producer must be held back, not drained into memory.
    let produced = 0;
    const total = 48 * 1024 * 1024;
    const slowReader = p.exec("h2", "sleep 2; wc -c", {
      stdin: Readable.from(
        (function* () {
          for (let sent = 0; sent < total; sent += 65536) {
            produced += 65536;
            yield Buffer.alloc(65536, 1);
          }
        })(),
      ),
    });
    await sleep(1500);
    const producedWhileBlocked = produced;
    const counted = await slowReader;
    expect(counted.stdout.trim()).toBe(String(total));
    expect(producedWhileBlocked).toBeLessThan(16 * 1024 * 1024);
  });

  it("accepts the pinned host key, as a fingerprint or a known_hosts line", async () => {
    const [h1, h2] = h.hosts as [TestHost, TestHost];
    const p = pool([cfg(h1), cfg(h2, { host_key: `${h2.address} ${h2.hostKeyLine}` })]);
    expect(await p.connect("h1")).toMatchObject({ fingerprint: h1.hostKeyFingerprint, hostKey: "pinned" });
    expect(await p.connect("h2")).toMatchObject({ fingerprint: h2.hostKeyFingerprint, hostKey: "pinned" });
    expect((await p.exec("h2", "hostname")).stdout).toBe("h2\n");
  });

  it("refuses a host whose key does not match the pin: both fingerprints, nothing run", async () => {
    const [h1, h2] = h.hosts as [TestHost, TestHost];
    const marker = path.join(h1.deployRoot, "must-not-exist");
    const logins = acceptedLogins(h1).length;
    for (const pin of [h2.hostKeyFingerprint, h2.hostKeyLine]) {
      const p = pool([cfg(h1, { host_key: pin })]);
      const err = await p.exec("h1", `touch ${marker}`).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(HostKeyMismatchError);
      const msg = (err as Error).message;
      expect(msg).toContain(`expected ${h2.hostKeyFingerprint}`);
      expect(msg).toContain(`presented ${h1.hostKeyFingerprint}`);
      expect(msg).toContain(`${h1.address}:22`);
      expect(err).toMatchObject({ host: "h1", expected: expect.stringContaining(h2.hostKeyFingerprint) });
    }
    expect(existsSync(marker)).toBe(false);
    // Refused before authentication: the host never saw a login.
    expect(acceptedLogins(h1).length).toBe(logins);
  });

  it("refuses an unpinned host unless trust_on_first_use; pins on first use, then refuses a changed key", async () => {
    const h3 = h.host("h3");
    const dataDir = path.join(tmp, "tofu");
    const unpinned = pool([cfg(h3, { host_key: undefined })], { dataDir });
    const unknown = await unpinned.exec("h3", "true").catch((e: unknown) => e);
    expect(unknown).toBeInstanceOf(HostKeyUnknownError);
    expect((unknown as Error).message).toContain(h3.hostKeyFingerprint);
    expect(existsSync(path.join(dataDir, "known_hosts"))).toBe(false);

    const tofu = cfg(h3, { host_key: undefined, trust_on_first_use: true });
    const first = pool([tofu], { dataDir });
    expect(await first.connect("h3")).toMatchObject({
      hostKey: "first-use",
      fingerprint: h3.hostKeyFingerprint,
    });
    const stored = await readFile(path.join(dataDir, "known_hosts"), "utf8");
    expect(stored).toBe(`${h3.address} ${h3.hostKeyLine} stackpilot:h3\n`);
    // The stored file is real known_hosts: OpenSSH's own client accepts the host with it.
    const ssh = await run("ssh", [
      "-i",
      h3.keyPath,
      "-o",
      `UserKnownHostsFile=${path.join(dataDir, "known_hosts")}`,
      "-o",
      "StrictHostKeyChecking=yes",
      "-o",
      "BatchMode=yes",
      `${h3.user}@${h3.address}`,
      "echo ok",
    ]);
    expect(ssh.stdout.trim(), ssh.stderr).toBe("ok");

    const again = pool([tofu], { dataDir });
    expect(await again.connect("h3")).toMatchObject({ hostKey: "known_hosts" });

    // The host gets a new key (reinstall): the TOFU pin now refuses it.
    const keyFile = path.join(h.dir, "h3", "ssh", "ssh_host_ed25519_key");
    await copyFile(keyFile, `${keyFile}.orig`);
    await copyFile(`${keyFile}.pub`, `${keyFile}.pub.orig`);
    await h.stopHost("h3");
    try {
      await rm(keyFile);
      await rm(`${keyFile}.pub`);
      const gen = await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", keyFile]);
      expect(gen.code, gen.stderr).toBe(0);
      const newFp = (await run("ssh-keygen", ["-lf", `${keyFile}.pub`])).stdout.split(" ")[1] as string;
      await h.startHost("h3");
      const changed = pool([tofu], { dataDir });
      const err = await changed.exec("h3", "true").catch((e: unknown) => e);
      expect(err).toBeInstanceOf(HostKeyMismatchError);
      expect((err as Error).message).toContain(`expected ${h3.hostKeyFingerprint}`);
      expect((err as Error).message).toContain(`presented ${newFp}`);
      expect((err as Error).message).toContain("pinned on first use");
      // The pin was not replaced.
      expect(await readFile(path.join(dataDir, "known_hosts"), "utf8")).toBe(stored);
    } finally {
      await h.stopHost("h3");
      await copyFile(`${keyFile}.orig`, keyFile);
      await copyFile(`${keyFile}.pub.orig`, `${keyFile}.pub`);
      await h.startHost("h3");
    }
    expect((await pool([cfg(h3)]).exec("h3", "echo restored")).stdout).toBe("restored\n");
  });

  it("reports an unreachable host while the other hosts keep working, and reconnects once it is back", async () => {
    const p = pool(
      h.hosts.map((t) => cfg(t)),
      { readyTimeoutMs: 2_000 },
    );
    for (const t of h.hosts) expect((await p.exec(t.name, "echo up")).code).toBe(0);
    const h2 = h.host("h2");
    await h.stopHost("h2");
    try {
      const [r1, r2, r3] = await Promise.allSettled(h.hosts.map((t) => p.exec(t.name, "hostname")));
      expect(r1).toMatchObject({ status: "fulfilled", value: { stdout: "h1\n" } });
      expect(r3).toMatchObject({ status: "fulfilled", value: { stdout: "h3\n" } });
      expect(r2?.status).toBe("rejected");
      const err = (r2 as PromiseRejectedResult).reason;
      expect(err).toBeInstanceOf(UnreachableError);
      expect(err).toMatchObject({ host: "h2", address: h2.address, port: 22 });
      expect(err.message).toBe(`h2 (${h2.address}:22) is unreachable: connection refused (ECONNREFUSED)`);
    } finally {
      await h.startHost("h2");
    }
    expect((await p.exec("h2", "hostname")).stdout).toBe("h2\n");
    expect(p.stats("h2").connects).toBe(2);
    expect(p.stats("h1").connects).toBe(1);

    // A cut link: connects time out within readyTimeout, others unaffected.
    await h.stopHost("h2", "network");
    try {
      const fresh = pool(
        h.hosts.map((t) => cfg(t)),
        { readyTimeoutMs: 2_000 },
      );
      const t0 = Date.now();
      const [cut, ok] = await Promise.allSettled([fresh.exec("h2", "true"), fresh.exec("h1", "true")]);
      expect(Date.now() - t0).toBeLessThan(6_000);
      expect(ok.status).toBe("fulfilled");
      expect((cut as PromiseRejectedResult).reason).toBeInstanceOf(UnreachableError);
      expect((cut as PromiseRejectedResult).reason.message).toMatch(/^h2 \(.*:22\) is unreachable: /);
    } finally {
      await h.startHost("h2");
    }
  });

  it("kills a command that exceeds its timeout (SIGTERM, then SIGKILL)", async () => {
    const h1 = h.host("h1");
    const p = pool([cfg(h1)], { killGraceMs: 1_000 });
    let t0 = Date.now();
    const err = await p
      .exec("h1", "echo begun; sleep 301; echo never", { timeoutMs: 800 })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CommandTimeoutError);
    expect(err).toMatchObject({ host: "h1", timeoutMs: 800, stdout: "begun\n" });
    // Before the grace period ends: sshd delivered the SIGTERM (to the whole process group).
    expect(Date.now() - t0).toBeLessThan(1_500);
    // A command that ignores SIGTERM is killed after the grace period.
    t0 = Date.now();
    const stubborn = await p
      .exec("h1", "trap '' TERM; sleep 302; echo never", { timeoutMs: 500 })
      .catch((e) => e);
    expect(stubborn).toBeInstanceOf(CommandTimeoutError);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1_400);
    expect(Date.now() - t0).toBeLessThan(4_000);
    await sleep(200);
    expect(await remoteProcesses(h1, "[s]leep 30[12]")).toEqual([]);
    // The connection is still good.
    expect((await p.exec("h1", "echo still")).stdout).toBe("still\n");
    expect(p.stats("h1").connects).toBe(1);
  });

  it("fails clearly, without hanging, when the host goes away mid-command", async () => {
    const h3 = h.host("h3");
    const p = pool([cfg(h3)]);
    let started!: () => void;
    const begun = new Promise<void>((r) => {
      started = r;
    });
    const running = p
      .exec("h3", "echo started; sleep 60", { onData: (c) => c.includes("started") && started() })
      .catch((e: unknown) => e);
    // And one that is still receiving a large stdin stream.
    let produced = 0;
    const endless = new Readable({
      read() {
        produced += 65536;
        this.push(Buffer.alloc(65536));
      },
    });
    const uploading = p.exec("h3", "cat > /dev/null", { stdin: endless }).catch((e: unknown) => e);
    await begun;
    await sleep(300);
    expect(produced).toBeGreaterThan(0);
    const t0 = Date.now();
    await h.stopHost("h3");
    try {
      const [err, upErr] = await Promise.all([running, uploading]);
      expect(Date.now() - t0).toBeLessThan(5_000);
      for (const e of [err, upErr]) {
        expect(e).toBeInstanceOf(ConnectionLostError);
        expect((e as Error).message).toMatch(/^connection to h3 was lost while the command ran: /);
      }
      expect(endless.destroyed).toBe(true);
    } finally {
      await h.startHost("h3");
    }

    // A cut link (no FIN, no RST): keepalives notice within interval x count.
    const ka = pool([cfg(h3)], { keepaliveIntervalMs: 500, keepaliveCountMax: 2 });
    expect((await ka.exec("h3", "true")).code).toBe(0);
    const hung = ka.exec("h3", "sleep 60").catch((e: unknown) => e);
    await sleep(300);
    const t1 = Date.now();
    await h.stopHost("h3", "network");
    try {
      const e = await hung;
      expect(Date.now() - t1).toBeLessThan(5_000);
      expect(e).toBeInstanceOf(ConnectionLostError);
    } finally {
      await h.startHost("h3");
    }
  });

  it("reaches a host through a jump host, checking both host keys", async () => {
    const [h1, h2] = h.hosts as [TestHost, TestHost];
    const logins = acceptedLogins(h2).length;
    const p = pool([cfg(h1), cfg(h2, { jump: "h1" })]);
    expect(await p.connect("h2")).toMatchObject({ fingerprint: h2.hostKeyFingerprint, via: "h1" });
    const res = await p.exec("h2", "hostname; echo $SSH_CLIENT");
    expect(res.stdout.split("\n")[0]).toBe("h2");
    // The target saw the connection come from the jump host's address.
    expect(res.stdout.split("\n")[1]).toMatch(new RegExp(`^${h1.address.replace(/\./g, "\\.")} `));
    expect(acceptedLogins(h2).slice(logins).join("\n")).toContain(`from ${h1.address}`);
    expect(p.stats("h1").connects).toBe(1);
    // The jump host's connection is the pooled one: commands on h1 reuse it.
    expect((await p.exec("h1", "hostname")).stdout).toBe("h1\n");
    expect(p.stats("h1").connects).toBe(1);

    const wrongTarget = pool([cfg(h1), cfg(h2, { jump: "h1", host_key: h1.hostKeyFingerprint })]);
    const e1 = await wrongTarget.exec("h2", "true").catch((e: unknown) => e);
    expect(e1).toBeInstanceOf(HostKeyMismatchError);
    expect(e1).toMatchObject({ host: "h2", presented: expect.stringContaining(h2.hostKeyFingerprint) });

    const wrongJump = pool([cfg(h1, { host_key: h2.hostKeyFingerprint }), cfg(h2, { jump: "h1" })]);
    const e2 = await wrongJump.exec("h2", "true").catch((e: unknown) => e);
    expect(e2).toBeInstanceOf(UnreachableError);
    expect((e2 as Error).message).toContain("jump host h1 failed: host key mismatch for h1");
    expect((e2 as Error).cause).toBeInstanceOf(HostKeyMismatchError);
  });
});

describe("stackpilot hosts on real hosts", () => {
  let hostsFile: string;
  async function cli(...argv: string[]) {
    let out = "";
    let err = "";
    const code = await main(argv, { out: (t) => (out += t), err: (t) => (err += t) });
    return { code, out, err };
  }

  beforeAll(async () => {
    hostsFile = path.join(tmp, "hosts.yml");
    const entries = h.hosts.map(
      (t) => `  - name: ${t.name}
    address: ${t.address}
    user: ${t.user}
    labels: { role: ${t.name === "h1" ? "edge" : "app"} }
    key: { file: ${t.keyPath} }
    ${t.name === "h3" ? "trust_on_first_use: true" : `host_key: "${t.hostKeyFingerprint}"`}
    root: ${t.deployRoot}/stacks/not-yet
`,
    );
    await writeFile(hostsFile, `hosts:\n${entries.join("")}`);
  });

  it("lists the hosts with their pinning", async () => {
    const res = await cli("hosts", "list", "--hosts", hostsFile, "--data", path.join(tmp, "data"));
    expect(res.code, res.err).toBe(0);
    const lines = res.out.trim().split("\n");
    expect(lines[0]).toMatch(/^HOST +ADDRESS +USER +LABELS +KEY +HOST KEY$/);
    expect(lines[1]).toContain(`pinned ${h.host("h1").hostKeyFingerprint}`);
    expect(lines[1]).toContain("role=edge");
    expect(lines[3]).toContain("TOFU, not yet seen");
  });

  it("checks every host: host key, docker and compose versions, disk; exit 0", async () => {
    const t0 = Date.now();
    const res = await cli("hosts", "check", "--hosts", hostsFile, "--data", path.join(tmp, "data"));
    console.log(`hosts check (3 hosts) in ${Date.now() - t0} ms\n${res.out}`);
    expect(res.code, res.out + res.err).toBe(0);
    for (const t of h.hosts) {
      const line = res.out.split("\n").find((l) => l.startsWith(`${t.name} `)) as string;
      expect(line).toContain(`OK ${t.name === "h3" ? "(pinned now) " : ""}${t.hostKeyFingerprint}`);
      expect(line).toMatch(/ 20\.10\.\d+/);
      expect(line).toMatch(/docker-compose 1\.29\.\d+/);
      expect(line).toContain(`at ${t.deployRoot}`);
    }
    expect(res.out).toContain("3 of 3 hosts ok");

    const json = await cli(
      "hosts",
      "check",
      "--hosts",
      hostsFile,
      "--data",
      path.join(tmp, "data"),
      "--json",
    );
    expect(json.code).toBe(0);
    const report = JSON.parse(json.out);
    expect(report.ok).toBe(true);
    expect(report.hosts.map((c: { host: string }) => c.host)).toEqual(["h1", "h2", "h3"]);
    for (const c of report.hosts) {
      expect(c.docker.version).toMatch(/^20\.10\./);
      expect(c.compose).toEqual({ command: "docker-compose", version: expect.stringMatching(/^1\.29\./) });
      expect(c.disk.availableKb).toBeGreaterThan(0);
      expect(c.connectMs).toBeGreaterThan(0);
    }
    expect(report.hosts[2].hostKey).toMatchObject({ status: "ok", how: "known_hosts" });
  });

  it("exits 1 with one host down, still reporting the others", async () => {
    await h.stopHost("h2");
    try {
      const res = await cli(
        "hosts",
        "check",
        "--hosts",
        hostsFile,
        "--data",
        path.join(tmp, "data"),
        "--json",
      );
      expect(res.code).toBe(1);
      const report = JSON.parse(res.out);
      expect(report.ok).toBe(false);
      const [c1, c2, c3] = report.hosts;
      expect(c1).toMatchObject({ host: "h1", ok: true, docker: { version: expect.any(String) } });
      expect(c3).toMatchObject({ host: "h3", ok: true, docker: { version: expect.any(String) } });
      expect(c2).toMatchObject({ host: "h2", ok: false, reachable: false });
      expect(c2.error).toContain("connection refused");

      const text = await cli("hosts", "check", "--hosts", hostsFile, "--data", path.join(tmp, "data"));
      expect(text.code).toBe(1);
      expect(text.out).toMatch(/^h2 .* NO /m);
      expect(text.out).toContain("2 of 3 hosts ok, 1 failed");
      expect(text.out).toMatch(/h2: h2 \(.*:22\) is unreachable: connection refused/);
      const only = await cli(
        "hosts",
        "check",
        "--hosts",
        hostsFile,
        "--data",
        path.join(tmp, "data"),
        "--host",
        "h[13]",
      );
      expect(only.code).toBe(0);
    } finally {
      await h.startHost("h2");
    }
  });

  it("reports a host key mismatch with both fingerprints", async () => {
    const [h1, h2] = h.hosts as [TestHost, TestHost];
    const text = (await readFile(hostsFile, "utf8")).replace(h1.hostKeyFingerprint, h2.hostKeyFingerprint);
    const bad = path.join(tmp, "bad-hosts.yml");
    await writeFile(bad, text);
    const res = await cli("hosts", "check", "--hosts", bad, "--data", path.join(tmp, "data"), "--host", "h1");
    expect(res.code).toBe(1);
    expect(res.out).toMatch(/^h1 .* MISMATCH /m);
    expect(res.out).toContain(`expected ${h2.hostKeyFingerprint}`);
    expect(res.out).toContain(`presented ${h1.hostKeyFingerprint}`);
  });
});
