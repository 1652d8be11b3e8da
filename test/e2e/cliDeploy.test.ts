// `stackpilot deploy` and `rollback` end to end: the fixture monorepo onto 3 real hosts, with the
// state in the embedded database.
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openStore } from "../../src/state/store.ts";
import { deployArgs, runCli } from "../helpers/cli.ts";
import { type Harness, hostEntry, startHarness } from "./harness/harness.ts";

let h: Harness;
let tmp: string;
let repoDir: string;
let hostsFile: string;
let dataDir: string;

const cli = runCli;
const status = (...extra: string[]) => cli("status", "--repo", repoDir, "--data", dataDir, ...extra);
const deploy = (...extra: string[]) =>
  cli(...deployArgs({ repo: repoDir, hosts: hostsFile, data: dataDir, healthTimeoutS: 30 }), ...extra);
const git = (...args: string[]) => execFileSync("git", args, { cwd: repoDir, encoding: "utf8" }).trim();

/** service -> container id, for every compose project on a host's engine. */
async function containers(host: string): Promise<Record<string, string>> {
  const ps = await h.docker(host, [
    "ps",
    "--format",
    '{{.ID}} {{.Label "com.docker.compose.project"}}/{{.Label "com.docker.compose.service"}}',
  ]);
  return Object.fromEntries(
    ps.stdout
      .trim()
      .split("\n")
      .filter(Boolean)
      .map((l) => l.split(" ").reverse()),
  );
}

beforeAll(async () => {
  h = await startHarness({ hosts: 3 });
  tmp = mkdtempSync(join(tmpdir(), "sp-e2e-cli-"));
  repoDir = join(tmp, "repo");
  dataDir = join(tmp, "data");
  hostsFile = join(tmp, "hosts.yml");
  execFileSync("sh", ["fixtures/build-monorepo.sh", repoDir]);
  const roles = ["app", "app", "edge"];
  // h1 builds webapp's image and pushes it to the registry; h1 and h2 pull it from there.
  const hosts = h.hosts.map((t, i) => hostEntry(t, { labels: { role: roles[i] }, builder: i === 0 }));
  const registries = [{ name: "test", address: h.registry.address, namespace: "e2e" }];
  writeFileSync(hostsFile, JSON.stringify({ hosts, registries }, null, 2)); // JSON is YAML
}, 120_000);

afterAll(async () => {
  await h?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

describe("stackpilot deploy", () => {
  it("deploys every stack to the hosts its config selects", async () => {
    const r = await deploy();
    expect(r.code, `${r.out}\n${r.err}`).toBe(0);
    expect(r.out).toMatch(/10 succeeded, 0 failed/);
    expect(r.out).toContain("no host in the hosts file has labels {compose=v2}");
    const [h1, h2, h3] = await Promise.all(["h1", "h2", "h3"].map(containers));
    for (const app of [h1, h2]) {
      expect(Object.keys(app ?? {}).sort()).toEqual([
        "authelia/authelia",
        "monitoring/probe",
        "monitoring/shipper",
        "webapp/web",
        "whoami/whoami",
      ]);
    }
    expect(Object.keys(h3 ?? {}).sort()).toEqual([
      "adguardhome/adguard",
      "monitoring/probe",
      "monitoring/shipper",
    ]);
    // The webapp image was built from a build context outside the stack directory.
    const page = await h.docker("h1", ["exec", h1?.["webapp/web"] as string, "cat", "/www/index.html"]);
    expect(page.stdout).toContain("hello v2");
  });

  it("sends no deploy command when nothing changed", async () => {
    const before = await containers("h1");
    const t0 = performance.now();
    const r = await deploy();
    const elapsed = performance.now() - t0;
    expect(r.code).toBe(0);
    expect(r.out).toContain("0 deploy, 0 remove, 10 skip");
    expect(r.out).not.toContain("succeeded");
    expect(await containers("h1")).toEqual(before);
    expect(elapsed).toBeLessThan(10_000);
  });

  it("redeploys only the changed stack, only where it runs", async () => {
    const before = await Promise.all(["h1", "h2", "h3"].map(containers));
    writeFileSync(join(repoDir, "stacks/adguardhome/conf/AdGuardHome.yaml"), "dns:\n  upstream: [1.1.1.1]\n");
    git("-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit", "-qam", "adguard: new upstream");
    const r = await deploy();
    expect(r.code, r.out + r.err).toBe(0);
    expect(r.out).toMatch(/adguardhome +h3 +succeeded/);
    expect(r.out).toMatch(/1 succeeded, 0 failed/);
    const after = await Promise.all(["h1", "h2", "h3"].map(containers));
    expect(after[0]).toEqual(before[0]);
    expect(after[1]).toEqual(before[1]);
    expect(after[2]?.["monitoring/probe"]).toBe(before[2]?.["monitoring/probe"]);
    expect(after[2]?.["adguardhome/adguard"]).not.toBe(before[2]?.["adguardhome/adguard"]);
  });

  it("rolls back without rebuilding, pins the release, and the next automatic plan leaves it alone", async () => {
    const previous = git("rev-parse", "HEAD~1");
    const r = await cli(
      "rollback",
      "adguardhome",
      "--repo",
      repoDir,
      "--hosts",
      hostsFile,
      "--data",
      dataDir,
    );
    expect(r.code, r.out + r.err).toBe(0);
    expect(r.err).toContain(`-> ${previous.slice(0, 7)}, pinned`);
    const conf = await h.exec("h3", [
      "cat",
      join(h.host("h3").deployRoot, "adguardhome/current/stacks/adguardhome/conf/AdGuardHome.yaml"),
    ]);
    expect(conf.stdout).toContain("9.9.9.9");
    const again = await deploy();
    expect(again.out).toMatch(/skip +h3: pinned by a rollback/);
    const forced = await deploy("--stack", "adguardhome", "--force");
    expect(forced.code).toBe(0);
    const store = await openStore({ dataDir });
    try {
      const rec = (await store.getDeployed(repoDir)).find(
        (d) => d.stack === "adguardhome" && d.host === "h3",
      );
      expect(rec).toMatchObject({ commit: git("rev-parse", "HEAD"), pinned: false });
      const history = await store.listDeployments({ stack: "adguardhome", limit: 10 });
      expect(history.map((d) => [d.trigger, d.status])).toEqual([
        ["cli", "succeeded"],
        ["rollback", "succeeded"],
        ["cli", "succeeded"],
        ["cli", "succeeded"],
      ]);
    } finally {
      await store.close();
    }
  });

  it("reports an unreachable host in the summary and deploys the others", async () => {
    writeFileSync(join(repoDir, "shared/config/alerts/disk.yaml"), "disk: 80%\n");
    git("-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit", "-qam", "alerts");
    await h.stopHost("h2");
    try {
      const r = await deploy();
      expect(r.code).toBe(1);
      expect(r.out).toMatch(/monitoring +h2 +failed .*unreachable/);
      expect(r.out).toMatch(/monitoring +h1 +succeeded/);
      expect(r.out).toMatch(/monitoring +h3 +succeeded/);
      expect(r.out).toMatch(/2 succeeded, 1 failed/);
      // The summary points at the failed deployment's record; status shows it without any host.
      const failedId = /stackpilot status --deployment (\d+)/.exec(r.out)?.[1];
      expect(failedId, r.out).toBeDefined();
      const failed = await status("--deployment", String(failedId));
      expect(failed.code).toBe(0);
      expect(failed.out).toMatch(
        new RegExp(`^Deployment #${failedId}: monitoring on h2 at [0-9a-f]{7}: failed$`, "m"),
      );
      expect(failed.out).toMatch(/error: .*unreachable/);
      const okId = /monitoring +h1 +succeeded +[\d.]+ s +#(\d+)/.exec(r.out)?.[1];
      expect(okId, r.out).toBeDefined();
      const ok = await status("--deployment", String(okId));
      expect(ok.out).toMatch(/: succeeded\n/);
      expect(ok.out).toMatch(/^\$ .*docker.* up /m);
      expect(ok.out).toMatch(/^\(exit 0\)$/m);
    } finally {
      await h.startHost("h2");
    }
    const retry = await deploy();
    expect(retry.code, retry.out).toBe(0);
    expect(retry.out).toMatch(/monitoring +h2 +succeeded/);
    expect(retry.out).toMatch(/1 succeeded, 0 failed/);
    const head = git("rev-parse", "--short=7", "HEAD");
    const shown = await status("--stack", "monitoring");
    for (const host of ["h1", "h2", "h3"])
      expect(shown.out).toMatch(new RegExp(`^monitoring +${host} +${head} `, "m"));
  });
});

describe("a deployer killed mid-deploy", () => {
  it("loses no deployment record: the next run marks it interrupted and deploys again", async () => {
    writeFileSync(
      join(repoDir, "stacks/authelia/config/configuration.yml"),
      "theme: crash\nlog_level: info\n",
    );
    git("-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit", "-qam", "authelia: crash test");
    const child = spawn(
      process.execPath,
      [
        "test/e2e/cliChild.ts",
        "deploy",
        "--repo",
        repoDir,
        "--hosts",
        hostsFile,
        "--data",
        dataDir,
        "--lock-ttl",
        "2",
        "--host",
        "h1",
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    let stderr = "";
    const started = new Promise<void>((resolve) => {
      child.stderr.on("data", (c: Buffer) => {
        stderr += c.toString();
        if (stderr.includes("[h1] authelia: deploying")) resolve();
      });
    });
    const exited = new Promise((r) => child.on("exit", r));
    await started;
    await new Promise((r) => setTimeout(r, 300)); // into the upload / compose up
    child.kill("SIGKILL");
    await exited;

    const store = await openStore({ dataDir });
    let killedId: number;
    try {
      const rows = await store.listDeployments({ stack: "authelia", host: "h1", limit: 1 });
      expect(rows[0]).toMatchObject({ commit: git("rev-parse", "HEAD"), status: "running" });
      killedId = rows[0]?.id as number;
    } finally {
      await store.close();
    }
    await new Promise((r) => setTimeout(r, 2_500)); // the dead deployer's lock expires

    const r = await deploy("--host", "h1");
    expect(r.code, r.out + r.err).toBe(0);
    expect(r.err).toContain(`recovered deployment #${killedId}`);
    expect(r.out).toMatch(/authelia +h1 +succeeded/);
    const again = await openStore({ dataDir });
    try {
      const rows = await again.listDeployments({ stack: "authelia", host: "h1", limit: 2 });
      expect(rows.map((d) => [d.id === killedId, d.status])).toEqual([
        [false, "succeeded"],
        [true, "interrupted"],
      ]);
      expect(rows[1]?.error).toContain("interrupted");
    } finally {
      await again.close();
    }
    const served = await h.exec("h1", [
      "cat",
      join(h.host("h1").deployRoot, "authelia/current/stacks/authelia/config/configuration.yml"),
    ]);
    expect(served.stdout).toContain("theme: crash");
  });
});

describe("stackpilot status --live", () => {
  it("finds every record in sync, then a release switched by hand on one host, exit 1", async () => {
    const synced = await status("--live", "--hosts", hostsFile);
    expect(synced.code, synced.out + synced.err).toBe(0);
    const deployedSection = synced.out.slice(0, synced.out.indexOf("\nLatest deployments:"));
    const rows = deployedSection.split("\n").filter((l) => / h[123] +[0-9a-f]{7} /.test(l));
    expect(rows.length).toBeGreaterThan(5);
    for (const row of rows) expect(row).toMatch(/in sync$/);

    // Someone points h1's authelia at an older release by hand.
    const current = join(h.host("h1").deployRoot, "authelia/current");
    const was = (await h.exec("h1", ["readlink", current])).stdout.trim();
    const releases = (
      await h.exec("h1", ["ls", "-1t", join(h.host("h1").deployRoot, "authelia/releases")])
    ).stdout
      .split("\n")
      .filter((r) => /^[0-9a-f]{40}$/.test(r) && `releases/${r}` !== was);
    const older = releases[0] as string;
    await h.exec("h1", ["ln", "-sfn", `releases/${older}`, current]);
    try {
      const drifted = await status("--live", "--hosts", hostsFile, "--stack", "authelia", "--json");
      expect(drifted.code).toBe(1);
      const view = JSON.parse(drifted.out) as { deployed: { host: string; live: unknown }[] };
      const recorded = was.replace("releases/", "").slice(0, 7);
      expect(view.deployed.find((d) => d.host === "h1")?.live).toEqual({
        state: "drifted",
        healable: true,
        differences: [`current points at ${older.slice(0, 7)}, recorded ${recorded}`],
      });
      for (const d of view.deployed.filter((x) => x.host !== "h1"))
        expect(d.live).toEqual({ state: "in_sync" });
      const text = await status("--live", "--hosts", hostsFile, "--stack", "authelia", "--host", "h1");
      expect(text.out).toMatch(
        new RegExp(
          `^authelia +h1 .*DRIFTED: current points at ${older.slice(0, 7)}, recorded ${recorded}$`,
          "m",
        ),
      );
    } finally {
      await h.exec("h1", ["ln", "-sfn", was, current]);
    }
  });
});
