// `stackpilot status` reads the state store a deploy left: deployed commits, the latest
// deployments, held locks, and one deployment's commands with their output. No host is contacted.
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openStore } from "../../src/state/store.ts";
import { runCli } from "../helpers/cli.ts";

const A = "a".repeat(40);
const B = "b".repeat(40);
let dir: string;
let repoDir: string;
let dataDir: string;
let failedId: number;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "sp-status-"));
  repoDir = join(dir, "repo");
  dataDir = join(dir, "data");
  execFileSync("git", ["init", "-q", repoDir]);
  execFileSync("git", ["-C", repoDir, "remote", "add", "origin", "https://ghe.example.com/acme/infra.git"]);
  const store = await openStore({ dataDir });
  try {
    const repo = "acme/infra";
    /** One deployment that ran one command and ended so. */
    const recorded = async (
      target: {
        stack: string;
        host: string;
        commit: string;
        actor: string;
        sources?: { name: string; repository: string; commit: string }[];
      },
      command: { code: number; output: string },
      end: { status: "succeeded" | "rolled_back"; error?: string },
    ) => {
      const id = await store.createDeployment({
        repo,
        ...target,
        fingerprint: `f-${target.commit}`,
        trigger: "cli",
      });
      await store.startDeployment(id);
      await store.appendCommandLog(id, { command: "docker-compose up -d", ...command });
      await store.finishDeployment(id, end);
      return id;
    };
    const ok = await recorded(
      { stack: "web", host: "app1", commit: A, actor: "alice" },
      { code: 0, output: "Creating web_1 ... done\n" },
      { status: "succeeded" },
    );
    await store.setDeployed({
      repo,
      stack: "web",
      host: "app1",
      fingerprint: "f1",
      commit: A,
      deploymentId: ok,
    });
    failedId = await recorded(
      {
        ...{ stack: "web", host: "app2", commit: B, actor: "bob" },
        sources: [{ name: "utils", repository: "acme/utils", commit: "c".repeat(40) }],
      },
      { code: 1, output: "ERROR: no space left on device\n" },
      {
        status: "rolled_back",
        error: "app2: `docker-compose up -d` exited with 1:\nERROR: no space left on device",
      },
    );
    await store.setDeployed({ repo, stack: "db", host: "app2", fingerprint: "f3", commit: A, pinned: true });
    await store.acquireLock("deploy:acme/infra:db:app2", "carol (cli)", 60_000);
    await store.acquireLock("deploy:other/repo:db:app2", "someone else", 60_000);
    // Another repository's deployment never shows.
    await store.createDeployment({
      ...{ repo: "other/repo", stack: "web", host: "app1" },
      commit: A,
      fingerprint: "x",
      actor: "eve",
      trigger: "cli",
    });
  } finally {
    await store.close();
  }
}, 60_000);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

const status = (...extra: string[]) => runCli("status", "--repo", repoDir, "--data", dataDir, ...extra);

describe("stackpilot status", () => {
  it("shows what runs where, the latest deployments of this repository, and its locks", async () => {
    const r = await status();
    expect(r.err).toBe("");
    expect(r.code).toBe(0);
    expect(r.out).toContain("Deployed (acme/infra):");
    expect(r.out).toMatch(/^web\s+app1\s+aaaaaaa\s+\d{4}-\d\d-\d\d \d\d:\d\d\s+#1$/m);
    expect(r.out).toMatch(/^db\s+app2\s+aaaaaaa\s+.*pinned \(rollback\)$/m);
    expect(r.out).toMatch(
      new RegExp(
        `^#${failedId}\\s+web\\s+app2\\s+bbbbbbb\\s+rolled_back\\s+bob \\(cli\\).*ERROR: no space left on device$`,
        "m",
      ),
    );
    expect(r.out).toMatch(/^#1\s+web\s+app1\s+aaaaaaa\s+succeeded\s+alice \(cli\)/m);
    expect(r.out).toContain("deploy:acme/infra:db:app2  carol (cli)");
    expect(r.out).not.toContain("other/repo");
    expect(r.out).not.toContain("eve");
  });

  it("filters by stack and host globs, and prints JSON", async () => {
    const r = await status("--host", "app2", "--json");
    expect(r.code).toBe(0);
    const view = JSON.parse(r.out);
    expect(view.repo).toBe("acme/infra");
    expect(view.deployed.map((d: { stack: string }) => d.stack)).toEqual(["db"]);
    expect(view.deployments.map((d: { id: number }) => d.id)).toEqual([failedId]);
    expect(view.locks.map((l: { key: string }) => l.key)).toEqual(["deploy:acme/infra:db:app2"]);
    const web = JSON.parse((await status("--stack", "w*", "--json")).out);
    expect(web.locks).toEqual([]);
    expect(web.deployed.map((d: { host: string }) => d.host)).toEqual(["app1"]);
  });

  it("--deployment ID prints its result and every command with its output", async () => {
    const r = await status("--deployment", String(failedId));
    expect(r.code).toBe(0);
    expect(r.out).toContain(`Deployment #${failedId}: web on app2 at bbbbbbb: rolled_back`);
    expect(r.out).toContain("  by bob (cli), created");
    expect(r.out).toContain("\n  source utils: acme/utils at ccccccc\n");
    const json = JSON.parse((await status("--deployment", String(failedId), "--json")).out);
    expect(json.sources).toEqual([{ name: "utils", repository: "acme/utils", commit: "c".repeat(40) }]);
    expect(r.out).toContain(
      "  error: app2: `docker-compose up -d` exited with 1:\n         ERROR: no space left on device",
    );
    expect(r.out).toContain(
      "Commands (1):\n\n$ docker-compose up -d\nERROR: no space left on device\n(exit 1)\n",
    );
  });

  it("a deployment of another repository, or none, or no state at all exits 1; bad numbers are usage errors", async () => {
    const other = await status("--deployment", String(failedId + 1));
    expect(other.code).toBe(1);
    expect(other.err).toBe(`stackpilot status: no deployment ${failedId + 1} of acme/infra\n`);
    const empty = join(dir, "no-state-here");
    const none = await runCli("status", "--repo", repoDir, "--data", empty);
    expect(none.code).toBe(1);
    expect(none.err).toContain(`stackpilot status: no state in ${empty} (nothing was deployed with it)`);
    expect(existsSync(empty)).toBe(false);
    const bad = await status("--limit", "0");
    expect(bad.code).toBe(2);
    expect(bad.err).toContain('--limit must be a whole number from 1 to 1000, got "0"');
  });

  it("shows the App's last drift check of each target and what healing did, without asking a host", async () => {
    const store = await openStore({ dataDir });
    try {
      const repo = "acme/infra";
      await store.recordDriftCheck({
        repo,
        stack: "web",
        host: "app1",
        state: "in_sync",
        details: [],
        commit: A,
      });
      await store.recordDriftCheck({
        repo,
        stack: "db",
        host: "app2",
        state: "drifted",
        details: ["db: not running (exited 1)", "extra container x"],
        commit: A,
      });
      await store.setHealState(
        { repo, stack: "db", host: "app2" },
        { outcome: "given_up", detail: "3 heals", until: new Date("2026-12-01T13:05:00Z") },
      );
    } finally {
      await store.close();
    }
    const r = await status();
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/LAST DRIFT CHECK \(UTC\)$/m);
    expect(r.out).toMatch(/^web\s+app1\s+.*#1\s+in sync \(\d\d:\d\d\)$/m);
    expect(r.out).toMatch(
      /^db\s+app2\s+.*pinned \(rollback\)\s+DRIFTED \(\d\d:\d\d\): db: not running \(exited 1\); extra container x; heal given up until 2026-12-01 13:05$/m,
    );
    const view = JSON.parse((await status("--json", "--stack", "db")).out);
    expect(view.deployed[0].lastCheck).toMatchObject({ state: "drifted", heal: { outcome: "given_up" } });
  });
});
