// The deploy engine on real hosts: releases, atomic switch, compose up, health, rollback, locks.
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type HostConfig, HostSchema } from "../../src/config/hostsFile.ts";
import { stackPaths } from "../../src/deploy/commands/paths.ts";
import { HostDeployer, type HostTarget } from "../../src/deploy/hostDeploy.ts";
import { acquireHostLock, LockedError } from "../../src/deploy/hostLock.ts";
import { type CommandRecord, type RemoteExec, Runner } from "../../src/deploy/runner.ts";
import { SshPool } from "../../src/deploy/ssh/pool.ts";
import { buildSnapshot, ParseCache } from "../../src/detect/snapshot.ts";
import { GitRepo } from "../../src/git/repo.ts";
import { type Harness, hostEntry, startHarness, type TestHost } from "./harness/harness.ts";

let h: Harness;
let pool: SshPool;
let tmp: string;
let repoDir: string;
let repo: GitRepo;
const records: CommandRecord[] = [];
const cache = new ParseCache();

const cfg = (t: TestHost): HostConfig => HostSchema.parse(hostEntry(t));
const target = (t: TestHost): HostTarget => ({
  name: t.name,
  root: t.deployRoot,
  compose: "v1",
  allowedMountRoots: [],
});
const git = (...args: string[]) => execFileSync("git", args, { cwd: repoDir, encoding: "utf8" }).trim();

function commit(files: Record<string, string>, message: string): string {
  for (const [p, c] of Object.entries(files)) writeFileSync(join(repoDir, p), c);
  git("add", "-A");
  git("-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit", "-qm", message);
  return git("rev-parse", "HEAD");
}

async function stackAt(commitSha: string, name: string) {
  const snap = await buildSnapshot(repo, commitSha, await repo.lsTree(commitSha), cache);
  const s = snap.stacks.get(name);
  if (!s) throw new Error(`no stack ${name}`);
  return s;
}

function deployer(
  opts: { healthTimeoutMs?: number; lockTtlMs?: number; lockOwner?: string } = {},
  remote: RemoteExec = pool,
) {
  const runner = new Runner(remote, { onRecord: (r) => records.push(r) });
  return new HostDeployer(runner, {
    healthTimeoutMs: 20_000,
    healthPollMs: 300,
    lockOwner: "installation-a",
    ...opts,
  });
}

/** Container ids of a compose project on a host's engine, by service. */
async function containers(host: string, project: string): Promise<Record<string, string>> {
  const ps = await h.docker(host, [
    "ps",
    "--filter",
    `label=com.docker.compose.project=${project}`,
    "--format",
    '{{.ID}} {{.Label "com.docker.compose.service"}}',
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
  pool = new SshPool(h.hosts.map(cfg), { readyTimeoutMs: 5_000 });
  tmp = mkdtempSync(join(tmpdir(), "sp-e2e-deploy-"));
  repoDir = join(tmp, "repo");
  execFileSync("sh", ["fixtures/build-monorepo.sh", repoDir]);
  repo = new GitRepo(repoDir);
}, 120_000);

afterAll(async () => {
  await pool?.close();
  await h?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

describe("deploying a stack to a host", () => {
  it("uploads exactly the stack's files, switches current and runs the new config", async () => {
    const head = git("rev-parse", "HEAD");
    const stack = await stackAt(head, "authelia");
    for (const t of h.hosts) {
      const result = await deployer().deploy({
        repoDir,
        commit: head,
        stack,
        host: target(t),
        holder: "e2e",
        pullServices: [],
      });
      expect(result, result.error).toMatchObject({ status: "succeeded", release: head });
      const p = stackPaths(t.deployRoot, "authelia");
      const files = (await h.exec(t, ["find", p.release(head), "-type", "f"])).stdout
        .split("\n")
        .filter(Boolean)
        .sort();
      expect(files.map((f) => f.slice(p.release(head).length + 1))).toEqual([
        ".stackpilot/release.json",
        "shared/common.env",
        "stacks/authelia/authelia.env",
        "stacks/authelia/compose.yaml",
        "stacks/authelia/config/configuration.yml",
      ]);
      expect((await h.exec(t, ["readlink", p.current])).stdout.trim()).toBe(`releases/${head}`);
      const { authelia } = await containers(t.name, "authelia");
      expect(authelia).toBeTruthy();
      const served = await h.docker(t.name, [
        "exec",
        authelia as string,
        "wget",
        "-qO-",
        "http://127.0.0.1:9091/configuration.yml",
      ]);
      expect(served.stdout).toContain("theme: dark");
      const env = await h.docker(t.name, ["exec", authelia as string, "env"]);
      expect(env.stdout).toContain("TZ=Europe/Berlin");
    }
  });

  it("recreates only the changed stack's containers", async () => {
    const t = h.hosts[0] as TestHost;
    const before = git("rev-parse", "HEAD");
    await deployer().deploy({
      repoDir,
      commit: before,
      stack: await stackAt(before, "whoami"),
      host: target(t),
      holder: "e2e",
      pullServices: [],
    });
    const whoamiBefore = await containers(t.name, "whoami");
    const autheliaBefore = await containers(t.name, "authelia");
    const next = commit(
      { "stacks/authelia/config/configuration.yml": "theme: auto\nlog_level: debug\n" },
      "authelia: auto theme",
    );
    const result = await deployer().deploy({
      repoDir,
      commit: next,
      stack: await stackAt(next, "authelia"),
      host: target(t),
      holder: "e2e",
      pullServices: [],
    });
    expect(result.status, result.error).toBe("succeeded");
    expect(await containers(t.name, "whoami")).toEqual(whoamiBefore);
    expect((await containers(t.name, "authelia")).authelia).not.toBe(autheliaBefore.authelia);
    const served = await h.docker(t.name, [
      "exec",
      (await containers(t.name, "authelia")).authelia as string,
      "cat",
      "/config/configuration.yml",
    ]);
    expect(served.stdout).toContain("theme: auto");
  });

  it("rolls back to the previous release when the new one fails its healthcheck", async () => {
    const t = h.hosts[1] as TestHost;
    const good = git("rev-parse", "HEAD");
    expect(
      (
        await deployer().deploy({
          repoDir,
          commit: good,
          stack: await stackAt(good, "authelia"),
          host: target(t),
          holder: "e2e",
          pullServices: [],
        })
      ).status,
    ).toBe("succeeded");
    const goodContainer = (await containers(t.name, "authelia")).authelia;
    // The healthcheck fetches configuration.yml; renaming it makes every check fail.
    git("mv", "stacks/authelia/config/configuration.yml", "stacks/authelia/config/renamed.yml");
    const bad = commit({}, "break the healthcheck");
    const result = await deployer({ healthTimeoutMs: 15_000 }).deploy({
      repoDir,
      commit: bad,
      stack: await stackAt(bad, "authelia"),
      host: target(t),
      holder: "e2e",
      pullServices: [],
    });
    expect(result.status).toBe("rolled_back");
    expect(result.previousRelease).toBe(good);
    expect(result.error).toMatch(/unhealthy|not healthy/);
    const p = stackPaths(t.deployRoot, "authelia");
    expect((await h.exec(t, ["readlink", p.current])).stdout.trim()).toBe(`releases/${good}`);
    const now = (await containers(t.name, "authelia")).authelia;
    expect(now).toBeTruthy();
    expect(now).not.toBe(goodContainer); // recreated from the old release's files
    const inspect = await h.docker(t.name, [
      "inspect",
      "--format",
      "{{.State.Health.Status}}",
      now as string,
    ]);
    expect(inspect.stdout.trim()).toBe("healthy");
    git("revert", "--no-edit", "HEAD");
  });

  it("refuses a second deployer while the host lock is held, and takes over an expired lock", async () => {
    const t = h.hosts[2] as TestHost;
    const runner = new Runner(pool);
    const p = stackPaths(t.deployRoot, "whoami");
    const held = await acquireHostLock(
      runner,
      t.name,
      "whoami",
      p,
      { holder: "alice", commit: "a".repeat(40) },
      60_000,
    );
    const head = git("rev-parse", "HEAD");
    await expect(
      deployer().deploy({
        repoDir,
        commit: head,
        stack: await stackAt(head, "whoami"),
        host: target(t),
        holder: "bob",
        pullServices: [],
      }),
    ).rejects.toThrow(LockedError);
    await expect(
      deployer().deploy({
        repoDir,
        commit: head,
        stack: await stackAt(head, "whoami"),
        host: target(t),
        holder: "bob",
        pullServices: [],
      }),
    ).rejects.toThrow(/locked by alice/);
    await held.release();
    // A holder that died (no heartbeat any more): its lock expires and the next deployer breaks it.
    await runner.run(t.name, ["mkdir", p.lockDir]);
    const expired = {
      holder: "ghost",
      commit: "b".repeat(40),
      acquiredAt: "2026-01-01T00:00:00Z",
      expiresAt: "2026-01-01T00:10:00Z",
    };
    await runner.run(t.name, ["dd", `of=${p.lockDir}/details.json`, "status=none"], {
      stdin: JSON.stringify(expired),
    });
    const result = await deployer().deploy({
      repoDir,
      commit: head,
      stack: await stackAt(head, "whoami"),
      host: target(t),
      holder: "bob",
      pullServices: [],
    });
    expect(result.status, result.error).toBe("succeeded");
  });

  it("refuses bind mounts of absolute host paths outside the allowed roots before touching the host", async () => {
    const t = h.hosts[2] as TestHost;
    const sha = commit(
      {
        "services/whoami/docker-compose.yml":
          "services:\n  whoami:\n    image: stackpilot-test/busybox:1\n    command: [sleep, '3600']\n    volumes: ['/etc:/host-etc:ro']\n",
      },
      "mount /etc",
    );
    const before = records.length;
    await expect(
      deployer().deploy({
        repoDir,
        commit: sha,
        stack: await stackAt(sha, "whoami"),
        host: target(t),
        holder: "e2e",
        pullServices: [],
      }),
    ).rejects.toThrow(/mounts \/etc, outside the allowed mount roots of /);
    expect(records.length).toBe(before);
    git("revert", "--no-edit", "HEAD");
  });

  it("fails clearly when the host dies mid-deploy, leaves current untouched, and a retry succeeds", async () => {
    const t = h.hosts[0] as TestHost;
    const p = stackPaths(t.deployRoot, "authelia");
    const currentBefore = (await h.exec(t, ["readlink", p.current])).stdout.trim();
    const sha = commit(
      { "stacks/authelia/config/configuration.yml": "theme: light\nlog_level: warn\n" },
      "authelia: light",
    );
    const stack = await stackAt(sha, "authelia");
    // The host dies mid-upload: the upload's command has started on the host, and its stdin is
    // held back until the host is stopped.
    let stopped: Promise<void> | undefined;
    const dying: RemoteExec = {
      exec(host, line, opts) {
        if (stopped || host !== t.name || !line.includes(".incoming-") || !opts?.stdin) {
          return pool.exec(host, line, opts);
        }
        const held = new PassThrough();
        stopped = h.stopHost(t.name);
        void stopped.then(() => {
          const stdin = opts.stdin as NodeJS.ReadableStream & { destroy(): void };
          if (held.destroyed) stdin.destroy();
          else stdin.pipe(held);
        });
        return pool.exec(host, line, { ...opts, stdin: held });
      },
    };
    const failed = await deployer({ lockTtlMs: 10_000 }, dying)
      .deploy({ repoDir, commit: sha, stack, host: target(t), holder: "e2e", pullServices: [] })
      .catch((e: Error) => e);
    await stopped;
    expect(stopped).toBeDefined();
    expect(failed).toBeInstanceOf(Error);
    expect(String((failed as Error).message)).toMatch(/connection|unreachable|closed|lost/i);
    await h.startHost(t.name);
    expect((await h.exec(t, ["readlink", p.current])).stdout.trim()).toBe(currentBefore);
    // The dead attempt left its lock directory behind (unexpired). Another installation is refused
    // at once; the same installation waits for it to lapse (its heartbeats stopped with it), and
    // never breaks it sooner: it could be an attempt still finishing a command.
    const other = await deployer({ lockOwner: "installation-b" })
      .deploy({ repoDir, commit: sha, stack, host: target(t), holder: "e2e", pullServices: [] })
      .catch((e: Error) => e);
    expect(other).toBeInstanceOf(LockedError);
    const waitStarted = Date.now();
    const retry = await deployer({ lockTtlMs: 10_000 }).deploy({
      repoDir,
      commit: sha,
      stack,
      host: target(t),
      holder: "e2e",
      pullServices: [],
    });
    expect(retry.status, retry.error).toBe("succeeded");
    expect(Date.now() - waitStarted).toBeLessThan(30_000);
    expect((await h.exec(t, ["readlink", p.current])).stdout.trim()).toBe(`releases/${sha}`);
  });
});
