// Hooks on a real host through `stackpilot deploy`: post_sync once per deploy before the switch,
// a flaky pre_deploy succeeding on retry, post_deploy's output recorded bounded and shown by
// `status`, a failing pre_deploy leaving the running release alone, a hanging one killed with its
// children at its timeout, and on_failure running after a rollback. State in the embedded
// database, as the CLI keeps it.
import { execFileSync } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DeploymentView } from "../../src/cli/status.ts";
import { stackPaths } from "../../src/deploy/commands/paths.ts";
import { deployArgs, runCli } from "../helpers/cli.ts";
import { isRunning } from "../helpers/processes.ts";
import { type Harness, hostEntry, startHarness, type TestHost } from "./harness/harness.ts";

let h: Harness;
let host: TestHost;
let tmp: string;
let repoDir: string;
let hostsFile: string;
let dataDir: string;
/** The commit deployed by the first test: what must keep running through the failures after it. */
let good = "";

const HOSTILE_ARG = "$(touch pwned); `touch pwned2` && * |x";

const CONFIG = `version: 1
stacks:
  - name: app
    hosts: ["*"]
    hooks:
      post_sync: { script: stacks/app/hook.sh, timeout: 10s }
      pre_deploy: { script: stacks/app/hook.sh, timeout: 2s, retries: 1, backoff: 1s }
      post_deploy: { run: ["./hook.sh", ${JSON.stringify(HOSTILE_ARG)}], timeout: 60s }
      on_failure: { script: stacks/app/hook.sh, timeout: 10s }
`;

const COMPOSE = `services:
  app:
    image: stackpilot-test/busybox:1
    init: true
    stop_grace_period: 1s
    command: ["sleep", "3600"]
`;

/** One script for every hook: what it does depends on the hook and on MODE (one per commit). */
const hookScript = (mode: string) => `#!/bin/sh
MODE=${mode}
echo "hook=$STACKPILOT_HOOK attempt=$STACKPILOT_HOOK_ATTEMPT stack=$STACKPILOT_STACK host=$STACKPILOT_HOST commit=$STACKPILOT_COMMIT previous=$STACKPILOT_PREVIOUS_COMMIT trigger=$STACKPILOT_TRIGGER deployment=$STACKPILOT_DEPLOYMENT_ID"
case "$STACKPILOT_HOOK:$MODE" in
  pre_deploy:flaky)
    n=$(cat "$HOME/flaky" 2>/dev/null || echo 0); echo $((n + 1)) > "$HOME/flaky"
    if [ "$n" -lt 1 ]; then echo "flaky: not yet" >&2; exit 1; fi ;;
  pre_deploy:fail) echo "migration refused" >&2; exit 3 ;;
  pre_deploy:hang)
    trap '' TERM
    sleep 300 & echo $! >> "$HOME/hang.pids"
    sh -c 'trap "" TERM; sleep 301' & echo $! >> "$HOME/hang.pids"
    echo $$ >> "$HOME/hang.pids"
    wait ;;
  post_deploy:postfail) echo "smoke test failed" >&2; exit 4 ;;
  post_deploy:*)
    echo "arg=[$1]"
    i=0; while [ "$i" -lt 20000 ]; do echo "post line $i"; i=$((i + 1)); done ;;
  post_sync:*)
    echo "$STACKPILOT_COMMIT" >> "$HOME/post_sync.log"
    echo "current=$(readlink "$STACKPILOT_RELEASE_DIR/../../current")" ;;
  on_failure:*) echo "current=$(readlink "$STACKPILOT_RELEASE_DIR/../../current")" ;;
esac
`;

const git = (...args: string[]) => execFileSync("git", args, { cwd: repoDir, encoding: "utf8" }).trim();

function commit(mode: string): string {
  const script = join(repoDir, "stacks/app/hook.sh");
  writeFileSync(script, hookScript(mode));
  chmodSync(script, 0o755);
  git("add", "-A");
  git("-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit", "-qm", `hooks: ${mode}`);
  return git("rev-parse", "HEAD");
}

async function deploy() {
  const r = await runCli(
    ...deployArgs({ repo: repoDir, hosts: hostsFile, data: dataDir, healthTimeoutS: 60 }),
  );
  const id = /#(\d+)/.exec(r.out)?.[1];
  return { ...r, deploymentId: id === undefined ? undefined : Number(id), all: `${r.out}\n${r.err}` };
}

async function deployment(id: number | undefined): Promise<{ view: DeploymentView; text: string }> {
  expect(id).toBeDefined();
  const args = ["status", "--repo", repoDir, "--data", dataDir, "--deployment", String(id)];
  const json = await runCli(...args, "--json");
  const text = await runCli(...args);
  expect(json.code, json.err).toBe(0);
  return { view: JSON.parse(json.out) as DeploymentView, text: text.out };
}

const paths = () => stackPaths(host.deployRoot, "app");
const current = async () => (await h.exec(host, ["readlink", paths().current])).stdout.trim();
const appContainer = async () =>
  (await h.docker(host.name, ["ps", "-q", "--filter", "label=com.docker.compose.project=app"])).stdout.trim();

beforeAll(async () => {
  h = await startHarness({ hosts: 1 });
  host = h.hosts[0] as TestHost;
  tmp = mkdtempSync(join(tmpdir(), "sp-e2e-hooks-"));
  repoDir = join(tmp, "repo");
  dataDir = join(tmp, "data");
  hostsFile = join(tmp, "hosts.yml");
  mkdirSync(join(repoDir, ".github"), { recursive: true });
  mkdirSync(join(repoDir, "stacks/app"), { recursive: true });
  git("init", "-q", "-b", "main");
  writeFileSync(join(repoDir, ".github/stackpilot.yml"), CONFIG);
  writeFileSync(join(repoDir, "stacks/app/compose.yaml"), COMPOSE);
  writeFileSync(hostsFile, JSON.stringify({ hosts: [hostEntry(host)] }, null, 2)); // JSON is YAML
}, 120_000);

afterAll(async () => {
  await h?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

describe("hooks on a real host", () => {
  it("retries a flaky pre_deploy, then records post_deploy's output bounded and shows it", async () => {
    good = commit("flaky");
    const r = await deploy();
    expect(r.code, r.all).toBe(0);
    expect(r.out).toContain("will run pre_deploy: stacks/app/hook.sh (timeout 2 s, 1 retry)");
    expect(await current()).toBe(`releases/${good}`);

    const { view, text } = await deployment(r.deploymentId);
    expect(view.status).toBe("succeeded");
    expect(view.hooks.map((x) => [x.hook, x.attempt, x.status])).toEqual([
      ["post_sync", 1, "succeeded"],
      ["pre_deploy", 1, "failed"],
      ["pre_deploy", 2, "succeeded"],
      ["post_deploy", 1, "succeeded"],
    ]);
    const [sync, pre, , post] = view.hooks;
    // After the upload, before the switch: nothing ran before this first release.
    expect(sync?.output).toContain("current=\n");
    expect(pre?.output).toContain("flaky: not yet");
    // The environment, as values: the commit deployed, no previous release, the CLI's trigger.
    expect(post?.output).toContain(
      `hook=post_deploy attempt=1 stack=app host=${host.name} commit=${good} previous= trigger=cli deployment=${r.deploymentId}`,
    );
    // The argv ran verbatim: nothing of it was read by a shell.
    expect(post?.output).toContain(`arg=[${HOSTILE_ARG}]`);
    const releaseStack = `${paths().release(good)}/stacks/app`;
    expect((await h.exec(host, ["ls", "-A", releaseStack])).stdout.split("\n").sort()).toEqual(
      ["", "compose.yaml", "hook.sh"].sort(),
    );
    // ~290 KB printed; head and tail kept within the bound.
    expect(post?.output.length).toBeLessThanOrEqual(8 * 1024 + 200);
    expect(post?.output).toContain("post line 0\n");
    expect(post?.output).toContain("post line 19999");
    expect(post?.output).not.toContain("post line 10000\n");
    expect(text).toContain("Hooks (4 attempts):");
    expect(text).toContain("- pre_deploy, attempt 1: failed (exit status 1)");
    expect(text).toContain("- post_deploy, attempt 1: succeeded");
    expect(text).toContain("    post line 19999");

    const stats = JSON.parse((await runCli("status", "--repo", repoDir, "--data", dataDir, "--json")).out);
    expect(stats.hooks).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ hook: "pre_deploy", status: "failed", runs: 1 }),
        expect.objectContaining({ hook: "pre_deploy", status: "succeeded", runs: 1 }),
        expect.objectContaining({ hook: "post_deploy", status: "succeeded", runs: 1 }),
      ]),
    );
  }, 300_000);

  it("stops the deploy when a required pre_deploy fails: the running release is left as it was", async () => {
    const running = await appContainer();
    expect(running).not.toBe("");
    const bad = commit("fail");
    const r = await deploy();
    expect(r.code, r.all).toBe(1);
    expect(r.out).toMatch(/app +h\d+ +failed/);
    expect(await current()).toBe(`releases/${good}`);
    expect(await appContainer()).toBe(running);
    // The release never activated is removed: a later rollback cannot take it for a former one.
    expect((await h.exec(host, ["ls", paths().releasesDir])).stdout.trim().split("\n")).toEqual([good]);

    const { view } = await deployment(r.deploymentId);
    expect(view.status).toBe("failed");
    expect(view.error).toContain("pre_deploy hook failed (exit status 3) (2 attempts)");
    expect(view.error).toContain("migration refused");
    expect(view.hooks.map((x) => [x.hook, x.attempt, x.status])).toEqual([
      ["post_sync", 1, "succeeded"],
      ["pre_deploy", 1, "failed"],
      ["pre_deploy", 2, "failed"],
      ["on_failure", 1, "succeeded"],
    ]);
    // post_sync ran with the new release uploaded and the old one still current.
    expect(view.hooks[0]?.output).toContain(`current=releases/${good}`);
    expect(view.hooks[3]?.output).toContain(`commit=${bad} previous=${good}`);
    expect(view.hooks[3]?.output).toContain(`current=releases/${good}`);
  }, 300_000);

  it("kills a pre_deploy that outlives its timeout with its children, and switches nothing", async () => {
    const running = await appContainer();
    commit("hang");
    const t0 = performance.now();
    const r = await deploy();
    const elapsed = performance.now() - t0;
    expect(r.code, r.all).toBe(1);
    expect(await current()).toBe(`releases/${good}`);
    expect(await appContainer()).toBe(running);

    const { view, text } = await deployment(r.deploymentId);
    expect(view.error).toMatch(/pre_deploy hook timed out after \d+ s \(2 attempts\)/);
    expect(view.hooks.filter((x) => x.hook === "pre_deploy").map((x) => x.status)).toEqual([
      "timed_out",
      "timed_out",
    ]);
    expect(text).toContain("- pre_deploy, attempt 2: timed out (process group killed)");
    // Both attempts: the hook, a child and a grandchild ignoring TERM; all were killed.
    const pids = (await h.exec(host, ["cat", `${host.home}/hang.pids`])).stdout
      .trim()
      .split("\n")
      .map(Number);
    expect(pids).toHaveLength(6);
    expect(pids.filter(isRunning)).toEqual([]);
    // 2 × (2 s, then KILL 5 s after TERM) plus a 1 s backoff: never the hook's 300 s.
    expect(elapsed).toBeLessThan(120_000);
  }, 300_000);

  it("rolls back when post_deploy fails, then runs on_failure against the release brought back", async () => {
    const bad = commit("postfail");
    const r = await deploy();
    expect(r.code, r.all).toBe(1);
    expect(r.out).toMatch(/app +h\d+ +rolled_back/);
    expect(await current()).toBe(`releases/${good}`);

    const { view } = await deployment(r.deploymentId);
    expect(view.status).toBe("rolled_back");
    expect(view.error).toContain("post_deploy hook failed (exit status 4)");
    const failure = view.hooks.find((x) => x.hook === "on_failure");
    expect(failure?.status).toBe("succeeded");
    expect(failure?.output).toContain(`commit=${bad} previous=${good}`);
    // It ran after the rollback: `current` names the good release again.
    expect(failure?.output).toContain(`current=releases/${good}`);
    expect(view.hooks.map((x) => x.hook)).toEqual(["post_sync", "pre_deploy", "post_deploy", "on_failure"]);
    // post_sync ran once per deploy, for each commit deployed: 4 deploys, 4 lines.
    const synced = (await h.exec(host, ["cat", `${host.home}/post_sync.log`])).stdout.trim().split("\n");
    expect(synced).toHaveLength(4);
    expect(synced[0]).toBe(good);
    expect(synced[3]).toBe(bad);
  }, 300_000);
});
