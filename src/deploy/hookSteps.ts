/**
 * A stack's hooks, run by the deployer on the target host (commands/hooks.ts builds the command):
 * 1. each attempt is one round trip through the deployer's fenced step (a deploy that lost its
 *    lock runs no hook), in the stack's directory of the new release, with STACKPILOT_* variables;
 * 2. its outcome is the wrapper's verdict (exited with a status, or timed out and killed);
 * 3. a failed attempt is retried after the backoff, up to `retries` times;
 * 4. every attempt is journaled (state store: counts, durations, output) as it starts and ends.
 * A required hook that still fails throws HookFailed; one that is not required is a warning.
 * `on_failure` never throws: its own failure is reported beside the deploy's error.
 *
 * Hooks may run again: a deploy retried after a crash runs them anew. STACKPILOT_HOOK_ATTEMPT
 * counts on from the attempts the journal knows for the same target and commit.
 */
import { posix } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type { HookName } from "../config/repoConfigSchema.ts";
import type { HookSpec, StackHooks } from "../detect/hooks.ts";
import { boundText } from "../state/logBounds.ts";
import { HOOK_KILL_AFTER_S, type HookOutcome, hookOutcome, runHook } from "./commands/hooks.ts";
import type { DeployRequest, Step } from "./hostDeploy.ts";
import { type CommandRecord, RemoteCommandError } from "./runner.ts";

export type HookStatus = "succeeded" | "failed" | "timed_out";

/** One attempt of one hook, as journaled and shown. */
export interface HookRun {
  hook: HookName;
  attempt: number;
  required: boolean;
  status: HookStatus;
  /** null when it timed out, or the wrapper never said. */
  exitCode: number | null;
  durationMs: number;
  /** stdout then stderr, bounded (HOOK_OUTPUT_BYTES) and redacted like every command's. */
  output: string;
}

/** Output kept per hook attempt in the journal and results (the command log keeps more). */
export const HOOK_OUTPUT_BYTES = 8 * 1024;

/** Where hook attempts are recorded (the state store through orchestrate.ts). */
export interface HookJournal {
  /** Attempts made of each hook for this target and commit by deployments that never finished. */
  priorAttempts(): Promise<Partial<Record<HookName, number>>>;
  /** An attempt starts; the token names it in `finished`. */
  started(hook: HookName, attempt: number, required: boolean): Promise<number | undefined>;
  finished(token: number | undefined, run: HookRun): Promise<void>;
}

/** The fixed part of the hooks' environment (STACKPILOT_HOOK and _HOOK_ATTEMPT are per attempt). */
export interface HookEnvironment {
  stack: string;
  host: string;
  commit: string;
  previousCommit?: string;
  environment?: string;
  actor: string;
  trigger: string;
  deploymentId?: number;
  releaseDir: string;
  /** Repo-relative directory of the stack: where hooks run, inside the release. */
  stackPath: string;
  projectName: string;
}

export class HookFailed extends Error {
  override name = "HookFailed";
  readonly run: HookRun;
  constructor(run: HookRun, attempts: number) {
    const tail = run.output.trim().split("\n").slice(-5).join("\n");
    super(
      `${run.hook} hook ${verdictText(run)}${attempts > 1 ? ` (${attempts} attempts)` : ""}${tail ? `:\n${tail}` : ""}`,
    );
    this.run = run;
  }
}

/** The wrapper never said how the hook ended (fence refused, no setsid, connection lost). */
class NoVerdict extends RemoteCommandError {}

export class HookRunner {
  /** Every attempt made, in order. */
  readonly runs: HookRun[] = [];
  /** Warnings of hooks that failed without being required. */
  readonly warnings: string[] = [];
  readonly #hooks: StackHooks;
  readonly #env: HookEnvironment;
  readonly #step: Step;
  readonly #journal: HookJournal | undefined;
  readonly #signal: AbortSignal | undefined;
  #prior: Promise<Partial<Record<HookName, number>>> | undefined;

  constructor(
    hooks: StackHooks | undefined,
    env: HookEnvironment,
    step: Step,
    journal?: HookJournal,
    signal?: AbortSignal,
  ) {
    this.#hooks = hooks ?? {};
    this.#env = env;
    this.#step = step;
    this.#journal = journal;
    this.#signal = signal;
  }

  has(name: HookName): boolean {
    return this.#hooks[name] !== undefined;
  }

  /** Whether a hook runs between the upload and the switch (then they are two steps). */
  beforeSwitch(): boolean {
    return this.has("post_sync") || this.has("pre_deploy");
  }

  /**
   * Runs the hook (if the stack has it) until an attempt succeeds or none is left. Throws
   * HookFailed when a required hook failed; any other error (lock lost, host gone) as it came.
   */
  async run(name: HookName): Promise<void> {
    const failed = await this.#attempts(name);
    if (!failed) return;
    if (failed.spec.required) throw new HookFailed(failed.last, failed.spec.retries + 1);
    this.warnings.push(`${name} hook ${verdictText(failed.last)} (not required: the deploy went on)`);
  }

  /**
   * `on_failure`, after a deploy failed: never throws (a deploy that lost its lock runs nothing).
   * Returns what to add to the deploy's error when the hook itself failed: never in its place.
   */
  async onFailure(): Promise<string> {
    if (!this.has("on_failure") || this.#signal?.aborted) return "";
    try {
      const failed = await this.#attempts("on_failure");
      return failed ? `\n(the on_failure hook ${verdictText(failed.last)} as well)` : "";
    } catch (err) {
      return `\n(the on_failure hook could not run: ${err instanceof Error ? err.message : String(err)})`;
    }
  }

  /** Attempts until one succeeds: undefined then, else the last attempt. */
  async #attempts(name: HookName): Promise<{ spec: HookSpec; last: HookRun } | undefined> {
    const spec = this.#hooks[name];
    if (!spec) return undefined;
    this.#prior ??= this.#priorAttempts();
    const first = ((await this.#prior)[name] ?? 0) + 1;
    let last: HookRun | undefined;
    for (let attempt = first; attempt <= first + spec.retries; attempt++) {
      if (attempt > first && spec.backoffS > 0)
        await sleep(spec.backoffS * 1000, undefined, this.#signal ? { signal: this.#signal } : {});
      last = await this.#attempt(name, spec, attempt);
      if (last.status === "succeeded") return undefined;
    }
    return { spec, last: last as HookRun };
  }

  async #priorAttempts(): Promise<Partial<Record<HookName, number>>> {
    return (await this.#journal?.priorAttempts().catch(() => ({}))) ?? {};
  }

  async #attempt(name: HookName, spec: HookSpec, attempt: number): Promise<HookRun> {
    const token = await this.#journal?.started(name, attempt, spec.required).catch(() => undefined);
    const argv = runHook({
      cwd: posix.join(this.#env.releaseDir, this.#env.stackPath),
      argv: spec.script !== undefined ? [posix.join(this.#env.releaseDir, spec.script)] : (spec.run ?? []),
      env: environmentOf(this.#env, name, attempt),
      timeoutS: spec.timeoutS,
    });
    const t0 = performance.now();
    let record: CommandRecord | undefined;
    let error: unknown;
    try {
      // The transport's own limit only backs the host's: it never cuts a hook the host would let run.
      record = await this.#step(argv, {
        allowFailure: true,
        timeoutMs: (spec.timeoutS + HOOK_KILL_AFTER_S + 60) * 1000,
      });
    } catch (err) {
      error = err;
    }
    const outcome = record && hookOutcome(record.code, record.stderr);
    const run: HookRun = {
      hook: name,
      attempt,
      required: spec.required,
      status: statusOf(outcome),
      exitCode: outcome?.ended === "exited" ? outcome.code : null,
      durationMs: record?.durationMs ?? Math.round(performance.now() - t0),
      output: record ? boundText(`${record.stdout}${record.stderr}`, HOOK_OUTPUT_BYTES).text : "",
    };
    this.runs.push(run);
    await this.#journal?.finished(token, run).catch(() => {});
    if (error) throw error;
    // Without the wrapper's verdict the hook may not have run at all: not the hook's failure to retry.
    if (!outcome) throw new NoVerdict(record as CommandRecord);
    return run;
  }
}

function statusOf(outcome: HookOutcome | undefined): HookStatus {
  if (outcome?.ended === "timed_out") return "timed_out";
  return outcome?.ended === "exited" && outcome.code === 0 ? "succeeded" : "failed";
}

/** How an attempt ended, in a few words: "exited with status 3", "timed out after 30 s". */
export function verdictText(run: Pick<HookRun, "status" | "exitCode" | "durationMs">): string {
  if (run.status === "succeeded") return "succeeded";
  if (run.status === "timed_out") return `timed out after ${Math.round(run.durationMs / 1000)} s`;
  return run.exitCode === null ? "failed" : `failed (exit status ${run.exitCode})`;
}

/** The hook's environment: values as they are, never read by a shell (commands/hooks.ts). */
export function environmentOf(env: HookEnvironment, hook: HookName, attempt: number): Record<string, string> {
  return {
    STACKPILOT_STACK: env.stack,
    STACKPILOT_HOST: env.host,
    STACKPILOT_COMMIT: env.commit,
    STACKPILOT_PREVIOUS_COMMIT: env.previousCommit ?? "",
    STACKPILOT_ENVIRONMENT: env.environment ?? "",
    STACKPILOT_ACTOR: env.actor,
    STACKPILOT_DEPLOYMENT_ID: env.deploymentId === undefined ? "" : String(env.deploymentId),
    STACKPILOT_RELEASE_DIR: env.releaseDir,
    STACKPILOT_TRIGGER: env.trigger,
    STACKPILOT_HOOK: hook,
    STACKPILOT_HOOK_ATTEMPT: String(attempt),
    // So that `docker compose` in a hook addresses the stack's project, as the deploy does.
    COMPOSE_PROJECT_NAME: env.projectName,
  };
}

/** A release id is its commit, with a fingerprint after a dash when it uses sources (release.ts). */
const commitOfRelease = (release: string): string => release.split("-", 1)[0] ?? release;

/** The hooks' environment of a deploy: `previous` is the release `current` named under the lock. */
export function hookEnvironment(
  req: DeployRequest,
  previous: string | undefined,
  releaseDir: string,
): HookEnvironment {
  const { def } = req.stack;
  return {
    stack: def.name,
    host: req.host.name,
    commit: req.commit,
    ...(previous ? { previousCommit: commitOfRelease(previous) } : {}),
    ...(def.environment ? { environment: def.environment } : {}),
    actor: req.origin?.actor ?? req.holder,
    trigger: req.origin?.trigger ?? "",
    ...(req.origin?.deploymentId !== undefined ? { deploymentId: req.origin.deploymentId } : {}),
    releaseDir,
    stackPath: def.path,
    projectName: def.projectName,
  };
}
