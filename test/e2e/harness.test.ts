// Smoke test of the e2e harness itself: proves the test hosts are real (SSH
// with pinned host keys, one engine per host, registry between them, hosts
// that can go down and come back) and that tear-down leaves nothing behind.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isRunning } from "../helpers/processes.ts";
import { type Harness, run, sshArgs, startHarness, type TestHost } from "./harness/harness.ts";

let h: Harness;
let knownHosts: string;

function ssh(host: TestHost, command: string, input?: string, known = knownHosts) {
  return run("ssh", [...sshArgs(host, known), command], { input, timeoutMs: 60_000 });
}

describe("e2e harness", () => {
  beforeAll(async () => {
    const t0 = Date.now();
    h = await startHarness({ hosts: 3 });
    console.log(
      `harness up in ${Date.now() - t0} ms: ${h.subnet}, storage ${h.storageDriver}, registry ${h.registry.address}`,
    );
    // known_hosts built only from what the harness reports, as a deployer would.
    knownHosts = path.join(h.dir, "test_known_hosts");
    await writeFile(knownHosts, h.hosts.map((x) => `${x.address} ${x.hostKeyLine}\n`).join(""));
  });

  afterAll(async () => {
    await h?.stop();
  });

  it("reports three distinct hosts", () => {
    expect(h.hosts.map((x) => x.name)).toEqual(["h1", "h2", "h3"]);
    expect(new Set(h.hosts.map((x) => x.address)).size).toBe(3);
    expect(new Set(h.hosts.map((x) => x.user)).size).toBe(3);
    expect(new Set(h.hosts.map((x) => x.hostKeyLine)).size).toBe(3);
    for (const x of h.hosts) {
      expect(x.hostKeyLine).toMatch(/^ssh-ed25519 [A-Za-z0-9+/=]+$/);
      expect(x.hostKeyFingerprint).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
      expect(x.dockerHost).toBe(`unix://${x.dockerSocket}`);
    }
  });

  it("logs in over SSH with pinned host keys and reaches the host's own engine", async () => {
    for (const host of h.hosts) {
      const res = await ssh(
        host,
        'id -un; echo "$DOCKER_HOST"; docker-compose version --short; docker info --format "{{.Name}} {{.Driver}}"',
      );
      expect(res.code, res.stderr).toBe(0);
      expect(res.stderr).not.toMatch(/WARNING|Host key verification failed/);
      const lines = res.stdout.trim().split("\n");
      expect(lines[0]).toBe(host.user);
      expect(lines[1]).toBe(host.dockerHost);
      expect(lines[2]).toMatch(/^1\.\d+\.\d+/);
      expect(lines[3]).toBe(`${host.name} ${h.storageDriver}`);

      const info = await ssh(
        host,
        `docker info >/dev/null && echo ok; cd && pwd; test -w ${host.deployRoot} && echo deploy-writable`,
      );
      expect(info.code, info.stderr).toBe(0);
      expect(info.stdout.trim().split("\n")).toEqual(["ok", host.home, "deploy-writable"]);
    }
  });

  it("rejects a host whose key does not match the pinned one", async () => {
    const [h1, h2] = h.hosts as [TestHost, TestHost];
    const wrong = path.join(h.dir, "wrong_known_hosts");
    await writeFile(wrong, `${h1.address} ${h2.hostKeyLine}\n`);
    const res = await ssh(h1, "true", undefined, wrong);
    expect(res.code).toBe(255);
    expect(res.stderr).toMatch(/REMOTE HOST IDENTIFICATION HAS CHANGED|Host key verification failed/);
  });

  it("runs a compose stack on exactly the engine it was deployed to", async () => {
    const compose = (host: TestHost) => `version: "3.7"
services:
  sleeper:
    image: ${h.image}
    command: ["sleep", "3600"]
    network_mode: none
    # As pid 1, sleep/httpd ignore SIGTERM and every stop would wait 10 s.
    init: true
  web:
    image: ${h.image}
    command: ["httpd", "-f", "-p", "8080", "-h", "/var/www"]
    network_mode: host
    init: true
    labels:
      smoke.host: ${host.name}
`;
    await Promise.all(
      h.hosts.map(async (host) => {
        const dir = `${host.deployRoot}/smoke`;
        const put = await ssh(host, `mkdir -p ${dir} && cat > ${dir}/docker-compose.yml`, compose(host));
        expect(put.code, put.stderr).toBe(0);
        const up = await ssh(host, `cd ${dir} && docker-compose -p smoke-${host.name} up -d`);
        expect(up.code, up.stderr).toBe(0);
      }),
    );
    for (const host of h.hosts) {
      const ps = await h.docker(host, [
        "ps",
        "--filter",
        "label=com.docker.compose.project",
        "--format",
        '{{.Label "com.docker.compose.project"}} {{.Label "com.docker.compose.service"}} {{.State}}',
      ]);
      expect(ps.code, ps.stderr).toBe(0);
      expect(ps.stdout.trim().split("\n").sort()).toEqual([
        `smoke-${host.name} sleeper running`,
        `smoke-${host.name} web running`,
      ]);
    }
    // network_mode: host means the host's own namespace: the page is served
    // on that host's address and nowhere else.
    for (const host of h.hosts) {
      let body = "";
      for (let i = 0; i < 50 && !body; i++) {
        body = await fetch(`http://${host.address}:8080/`)
          .then((r) => r.text())
          .catch(() => "");
        if (!body) await new Promise((r) => setTimeout(r, 100));
      }
      expect(body).toContain("stackpilot test image");
      const hostname = await h.exec(host, ["hostname"]);
      expect(hostname.stdout.trim()).toBe(host.name);
    }
    const down = await h.exec("h1", ["docker-compose", "-p", "smoke-h1", "down"], {
      cwd: `${h.host("h1").deployRoot}/smoke`,
    });
    expect(down.code, down.stderr).toBe(0);
    expect((await h.docker("h1", ["ps", "-q"])).stdout.trim()).toBe("");
    expect((await h.docker("h2", ["ps", "-q"])).stdout.trim().split("\n")).toHaveLength(2);
  });

  it("moves images between engines through the registry", async () => {
    const tag = `${h.registry.address}/smoke/busybox:push-test`;
    const id = (await h.docker("h1", ["image", "inspect", "-f", "{{.Id}}", h.image])).stdout.trim();
    expect(id).toMatch(/^sha256:/);
    expect((await h.docker("h1", ["tag", h.image, tag])).code).toBe(0);
    const push = await h.docker("h1", ["push", tag]);
    expect(push.code, push.stderr).toBe(0);

    expect((await h.docker("h2", ["image", "inspect", tag])).code).not.toBe(0);
    // Pull as the host's user over SSH, as a deploy would.
    const pull = await ssh(h.host("h2"), `docker pull ${tag}`);
    expect(pull.code, pull.stderr).toBe(0);
    expect((await h.docker("h2", ["image", "inspect", "-f", "{{.Id}}", tag])).stdout.trim()).toBe(id);

    // The image seeded at startup is in the registry too.
    const seeded = await h.docker("h3", ["pull", h.registry.image]);
    expect(seeded.code, seeded.stderr).toBe(0);
  });

  it("takes a host down and brings it back", async () => {
    const h3 = h.host("h3");
    expect((await ssh(h3, "true")).code).toBe(0);

    await h.stopHost("h3");
    const refused = await ssh(h3, "true");
    expect(refused.code).toBe(255);
    expect(refused.stderr).toMatch(/Connection refused/);
    // Only the SSH side is down; the engine and its containers keep running.
    expect((await h.docker(h3, ["ps", "-q"])).stdout.trim().split("\n")).toHaveLength(2);
    await h.startHost("h3");
    expect((await ssh(h3, "echo back")).stdout.trim()).toBe("back");

    await h.stopHost("h3", "network");
    const cut = await run(
      "ssh",
      [...sshArgs(h3, knownHosts).map((a) => a.replace("ConnectTimeout=5", "ConnectTimeout=2")), "true"],
      {
        timeoutMs: 30_000,
      },
    );
    expect(cut.code).toBe(255);
    expect(cut.stderr).toMatch(/timed out|No route to host/);
    await h.startHost("h3");
    expect((await ssh(h3, "echo back again")).stdout.trim()).toBe("back again");
  });

  it("exec runs as the host's user in its environment", async () => {
    const res = await h.exec("h2", ["sh", "-c", 'id -un; pwd; echo "$DOCKER_HOST"; docker ps -q | wc -l']);
    expect(res.code, res.stderr).toBe(0);
    const host = h.host("h2");
    expect(
      res.stdout
        .trim()
        .split("\n")
        .map((s) => s.trim()),
    ).toEqual([host.user, host.deployRoot, host.dockerHost, "2"]);
    const fail = await h.exec("h2", ["false"]);
    expect(fail.code).toBe(1);
  });

  it("stops everything it started", async () => {
    // A live SSH session and a container must not survive the tear-down either.
    const session = run("ssh", [...sshArgs(h.host("h1"), knownHosts), "sleep 600"], { timeoutMs: 60_000 });
    await new Promise((r) => setTimeout(r, 500));
    const pids = await h.pids();
    expect(pids.length).toBeGreaterThan(10);
    const users = h.hosts.map((x) => x.user);
    const netns = h.hosts.map((x) => x.netns);
    const t0 = Date.now();
    await h.stop();
    console.log(`harness down in ${Date.now() - t0} ms`);
    await session;

    expect(pids.filter(isRunning)).toEqual([]);
    expect(existsSync(h.dir)).toBe(false);
    const passwd = readFileSync("/etc/passwd", "utf8");
    for (const u of users) expect(passwd).not.toContain(`${u}:`);
    const ns = await run("ip", ["netns", "list"]);
    for (const n of netns) expect(ns.stdout).not.toContain(n);
    // stop() is idempotent.
    await h.stop();
  });
});

describe("e2e harness startup failure", () => {
  it("tears down what it had started when startup fails half way", async () => {
    const snapshot = async () => ({
      users: readFileSync("/etc/passwd", "utf8"),
      netns: (await run("ip", ["netns", "list"])).stdout,
      links: (await run("ip", ["-o", "link", "show"])).stdout.replace(/^\d+: /gm, ""),
      tmp: readdirSync(tmpdir()).filter((f) => f.startsWith("sph-")),
    });
    const before = await snapshot();
    // sshd, registry and the network come up; dockerd then refuses to start.
    await expect(startHarness({ hosts: 2, storageDriver: "no-such-driver" })).rejects.toThrow(
      /dockerd for h\d exited/,
    );
    const after = await snapshot();
    expect(after).toEqual(before);
  });
});
