import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { HookName } from "../../src/config/repoConfigSchema.ts";
import {
  type HookEnvironment,
  HookFailed,
  type HookJournal,
  type HookRun,
  HookRunner,
} from "../../src/deploy/hookSteps.ts";
import type { Step } from "../../src/deploy/hostDeploy.ts";
import { RemoteCommandError, Runner, redactor } from "../../src/deploy/runner.ts";
import type { HookSpec, StackHooks } from "../../src/detect/hooks.ts";
import { localExec } from "../helpers/localExec.ts";

const local = localExec();

let releaseDir: string;
beforeEach(() => {
  releaseDir = mkdtempSync(join(tmpdir(), "sp-hookrunner-"));
  mkdirSync(join(releaseDir, "stacks/web"), { recursive: true });
});
afterEach(() => rmSync(releaseDir, { recursive: true, force: true }));

const SECRET = "s3cr3t-token-value";
const runner = new Runner(local, { redact: redactor([SECRET]) });
const step: Step = (argv, opts) => runner.run("h1", argv, opts);

const env = (): HookEnvironment => ({
  stack: "web",
  host: "h1",
  commit: "c".repeat(40),
  previousCommit: "b".repeat(40),
  actor: "alice",
  trigger: "merge",
  deploymentId: 7,
  releaseDir,
  stackPath: "stacks/web",
  projectName: "web",
});

const hook = (script: string, over: Partial<HookSpec> = {}): HookSpec => ({
  run: ["sh", "-c", script],
  timeoutS: 10,
  retries: 0,
  backoffS: 0,
  required: true,
  ...over,
});

/** A journal in memory, starting from `prior` attempts. */
function journal(prior: Partial<Record<HookName, number>> = {}) {
  const events: string[] = [];
  const finished: HookRun[] = [];
  const j: HookJournal = {
    priorAttempts: async () => prior,
    started: async (name, attempt) => {
      events.push(`start ${name} ${attempt}`);
      return events.length;
    },
    finished: async (token, run) => {
      events.push(`end ${run.hook} ${run.attempt} ${run.status} (${token})`);
      finished.push(run);
    },
  };
  return { j, events, finished };
}

const runnerOf = (hooks: StackHooks, j?: HookJournal, signal?: AbortSignal) =>
  new HookRunner(hooks, env(), step, j, signal);

describe("HookRunner", () => {
  it("retries a failing hook after its backoff, numbering attempts on from the journal's", async () => {
    const counter = join(releaseDir, "count");
    // Fails until its third run: attempts 3 and 4 fail (prior 2), 5 succeeds.
    const flaky = `n=$(cat ${counter} 2>/dev/null || echo 0); echo $((n + 1)) > ${counter}; echo "attempt $STACKPILOT_HOOK_ATTEMPT"; [ "$n" -ge 2 ]`;
    const { j, events, finished } = journal({ pre_deploy: 2 });
    const hooks = runnerOf({ pre_deploy: hook(flaky, { retries: 2, backoffS: 1 }) }, j);
    const t0 = performance.now();
    await hooks.run("pre_deploy");
    expect(performance.now() - t0).toBeGreaterThanOrEqual(2000); // two backoffs of 1 s
    expect(events).toEqual([
      "start pre_deploy 3",
      "end pre_deploy 3 failed (1)",
      "start pre_deploy 4",
      "end pre_deploy 4 failed (3)",
      "start pre_deploy 5",
      "end pre_deploy 5 succeeded (5)",
    ]);
    expect(finished.map((r) => r.output.split("\n")[0])).toEqual(["attempt 3", "attempt 4", "attempt 5"]);
    expect(hooks.runs).toEqual(finished);
    expect(readFileSync(counter, "utf8").trim()).toBe("3");
  });

  it("gives up after the last retry: a required hook throws with its verdict and output's end", async () => {
    const hooks = runnerOf({
      pre_deploy: hook("echo working; echo 'no database' >&2; exit 3", { retries: 1 }),
    });
    const err = await hooks.run("pre_deploy").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HookFailed);
    expect((err as HookFailed).message).toBe(
      "pre_deploy hook failed (exit status 3) (2 attempts):\nworking\nno database\n[stackpilot] hook exited with status 3",
    );
    expect(hooks.runs.map((r) => [r.attempt, r.status, r.exitCode])).toEqual([
      [1, "failed", 3],
      [2, "failed", 3],
    ]);
  });

  it("lets the deploy go on past a hook that is not required, with a warning", async () => {
    const hooks = runnerOf({ post_sync: hook("exit 1", { required: false }) });
    await hooks.run("post_sync");
    expect(hooks.warnings).toEqual([
      "post_sync hook failed (exit status 1) (not required: the deploy went on)",
    ]);
  });

  it("runs nothing for a hook the stack does not have", async () => {
    const { j, events } = journal();
    const hooks = runnerOf({ pre_deploy: hook("true") }, j);
    await hooks.run("post_deploy");
    expect(await hooks.onFailure()).toBe("");
    expect(events).toEqual([]);
  });

  it("runs on_failure without ever throwing: its failure is added to the deploy's error", async () => {
    const ok = runnerOf({ on_failure: hook("echo notified") });
    expect(await ok.onFailure()).toBe("");
    expect(ok.runs.map((r) => r.status)).toEqual(["succeeded"]);
    const failing = runnerOf({ on_failure: hook("exit 9") });
    expect(await failing.onFailure()).toBe("\n(the on_failure hook failed (exit status 9) as well)");
    const gone = runnerOf({ on_failure: { ...hook("true"), run: ["/nonexistent/notify"] } });
    expect(await gone.onFailure()).toBe("\n(the on_failure hook failed (exit status 127) as well)");
  });

  it("runs no on_failure for a deploy that lost its lock", async () => {
    const { j, events } = journal();
    const controller = new AbortController();
    controller.abort();
    const hooks = runnerOf({ on_failure: hook("true") }, j, controller.signal);
    expect(await hooks.onFailure()).toBe("");
    expect(events).toEqual([]);
  });

  it("does not retry when the wrapper gave no verdict (the hook may not have run): the error as it came", async () => {
    const { j, events } = journal();
    const hooks = new HookRunner(
      { pre_deploy: hook("true", { retries: 3 }) },
      { ...env(), stackPath: "stacks/missing" },
      step,
      j,
    );
    const err = await hooks.run("pre_deploy").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RemoteCommandError);
    expect(err).not.toBeInstanceOf(HookFailed);
    expect(events).toEqual(["start pre_deploy 1", "end pre_deploy 1 failed (1)"]);
  });

  it("gives the hook its environment and redacts secrets from the output it keeps", async () => {
    const hooks = runnerOf({
      post_deploy: hook(
        `pwd; echo "$STACKPILOT_STACK $STACKPILOT_HOST $STACKPILOT_COMMIT $STACKPILOT_PREVIOUS_COMMIT $STACKPILOT_ACTOR $STACKPILOT_DEPLOYMENT_ID $STACKPILOT_TRIGGER $STACKPILOT_HOOK $STACKPILOT_HOOK_ATTEMPT $COMPOSE_PROJECT_NAME [$STACKPILOT_ENVIRONMENT]"; echo "token ${SECRET}"`,
      ),
    });
    await hooks.run("post_deploy");
    const [out] = hooks.runs.map((r) => r.output.split("\n"));
    expect(out?.[0]).toBe(join(releaseDir, "stacks/web"));
    expect(out?.[1]).toBe(`web h1 ${"c".repeat(40)} ${"b".repeat(40)} alice 7 merge post_deploy 1 web []`);
    expect(out?.[2]).toBe("token ***");
  });

  it("reports a hook that outlives its timeout as timed out, and retries it", async () => {
    const hooks = runnerOf({ pre_deploy: hook("sleep 30", { timeoutS: 1, retries: 1 }) });
    const err = await hooks.run("pre_deploy").catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/^pre_deploy hook timed out after \d+ s \(2 attempts\)/);
    expect(hooks.runs.map((r) => [r.status, r.exitCode])).toEqual([
      ["timed_out", null],
      ["timed_out", null],
    ]);
  }, 60_000);
});
