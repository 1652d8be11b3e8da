/**
 * Runs a procedure's stages in order and each stage's steps in parallel (at most `max_parallel`
 * at once), recording every stage and step as it starts and ends. Komodo's semantics: a failed
 * step fails its stage (unless `continue_on_error`); steps already running in that stage finish,
 * none of its steps not yet started starts, and later stages run only with `if: failure` or
 * `if: always`. A step or stage already recorded as ended is not run again: a run resumed after a
 * restart goes on where it stopped. What a step does is the StepRunner's (the App's or a dry run's);
 * `sleep` and `procedure` steps are the engine's own.
 */
import type { Procedure, Stage, Step } from "../config/procedureSchema.ts";
import { stepKind } from "../config/procedureSchema.ts";
import type { StepRecord, StepStatus, StepUpdate } from "../state/procedureRuns.ts";
import { STEP_ENDED } from "../state/procedureRuns.ts";
import { Limiter } from "../util/limiter.ts";
import { skipReason } from "./conditions.ts";
import { type RunDefinition, stepName } from "./definition.ts";

export interface StepOutcome {
  status: Extract<StepStatus, "succeeded" | "failed" | "skipped">;
  reason?: string;
  error?: string;
  detail?: Record<string, unknown>;
}

export interface StepContext {
  path: string;
  step: Step;
  /** What an earlier attempt of this step recorded (a resumed step). */
  previous: StepRecord | undefined;
  /** Adds to the step's recorded detail at once (e.g. a rollout's id as soon as it exists). */
  record(detail: Record<string, unknown>): Promise<void>;
}

/** Runs deploy, build, rollback and hook steps. */
export interface StepRunner {
  run(ctx: StepContext): Promise<StepOutcome>;
}

export interface RunLedger {
  setStep(path: string, u: StepUpdate): Promise<boolean>;
  addStepDetail(path: string, detail: Record<string, unknown>): Promise<void>;
}

export interface EngineInput {
  definition: RunDefinition;
  /** Files the triggering range changed; undefined when no range is known. */
  changed: readonly string[] | undefined;
  /** Steps recorded by earlier attempts, by path. */
  recorded: ReadonlyMap<string, StepRecord>;
  ledger: RunLedger;
  runner: StepRunner;
  /** Called after every recorded change (the check run follows it). */
  onChange?: () => void;
  /** Aborted when the run's lease is lost: nothing more starts. */
  signal?: AbortSignal;
  /** Waits (sleep steps); injectable for tests. */
  wait?: (ms: number, signal?: AbortSignal) => Promise<void>;
  now?: () => number;
}

export async function runDefinition(input: EngineInput): Promise<{ failed: boolean }> {
  const root = input.definition.procedures[input.definition.root];
  if (!root) throw new Error(`procedure ${input.definition.root} is missing from the run's definition`);
  return { failed: await runStages(input, root, "") };
}

/** Runs a procedure's stages under `prefix`; true when one failed. */
async function runStages(input: EngineInput, proc: Procedure, prefix: string): Promise<boolean> {
  let failedBefore = false;
  for (const [i, stage] of proc.stages.entries()) {
    input.signal?.throwIfAborted();
    const path = `${prefix}${i}`;
    const done = input.recorded.get(path);
    if (done && STEP_ENDED.has(done.status)) {
      if (done.status === "failed") failedBefore = true;
      continue;
    }
    const skip = skipReason(stage, failedBefore, input.changed);
    if (skip) {
      await record(input, path, { kind: "stage", name: stage.name, status: "skipped", reason: skip });
      continue;
    }
    await record(input, path, { kind: "stage", name: stage.name, status: "running" });
    const { failed, ran } = await runStage(input, stage, path, failedBefore);
    await record(input, path, {
      kind: "stage",
      name: stage.name,
      status: failed ? "failed" : ran ? "succeeded" : "skipped",
      ...(failed ? { reason: "a step failed" } : ran ? {} : { reason: "every step was skipped" }),
    });
    if (failed) failedBefore = true;
  }
  return failedBefore;
}

/** One stage's steps, in parallel within max_parallel. */
async function runStage(
  input: EngineInput,
  stage: Stage,
  path: string,
  failedBefore: boolean,
): Promise<{ failed: boolean; ran: boolean }> {
  const limiter = new Limiter(stage.max_parallel ?? stage.steps.length);
  let failed = false;
  let ran = false;
  const tolerated = (step: Step) => step.continue_on_error === true || stage.continue_on_error === true;
  await Promise.all(
    stage.steps.map((step, j) =>
      limiter.run(async () => {
        const sp = `${path}.${j}`;
        const base = { kind: stepKind(step), name: stepName(step) };
        const before = input.recorded.get(sp);
        if (before && STEP_ENDED.has(before.status)) {
          if (before.status !== "skipped") ran = true;
          if (before.status === "failed" && !tolerated(step)) failed = true;
          return;
        }
        if (failed) {
          await record(input, sp, {
            ...base,
            status: "skipped",
            reason: "an earlier step of this stage failed",
          });
          return;
        }
        // A step's `if` defaults to its stage's: the steps of an `if: failure` stage run after a failure.
        const skip = skipReason({ ...step, if: step.if ?? stage.if }, failedBefore, input.changed);
        if (skip) {
          await record(input, sp, { ...base, status: "skipped", reason: skip });
          return;
        }
        input.signal?.throwIfAborted();
        await record(input, sp, { ...base, status: "running" });
        const outcome = await runStep(input, step, sp, before);
        input.signal?.throwIfAborted();
        const continued = outcome.status === "failed" && tolerated(step);
        await record(input, sp, {
          ...base,
          status: outcome.status,
          reason: continued
            ? `failed; continue_on_error: ${outcome.reason ?? "the run goes on"}`
            : (outcome.reason ?? null),
          error: outcome.error ?? null,
          ...(outcome.detail ? { detail: outcome.detail } : {}),
        });
        if (outcome.status !== "skipped") ran = true;
        if (outcome.status === "failed" && !continued) failed = true;
      }),
    ),
  );
  return { failed, ran };
}

async function runStep(
  input: EngineInput,
  step: Step,
  path: string,
  previous: StepRecord | undefined,
): Promise<StepOutcome> {
  try {
    if ("sleep" in step) return await sleepStep(input, step.sleep, path, previous);
    if ("procedure" in step) {
      const proc = input.definition.procedures[step.procedure];
      if (!proc) return { status: "failed", error: `procedure ${step.procedure} is not defined` };
      const failed = await runStages(input, proc, `${path}/`);
      return failed
        ? { status: "failed", reason: `procedure ${step.procedure} failed` }
        : { status: "succeeded" };
    }
    return await input.runner.run({
      path,
      step,
      previous,
      record: (detail) => input.ledger.addStepDetail(path, detail),
    });
  } catch (err) {
    // A lost lease stops the run (the next attempt resumes it); anything else fails the step.
    if (input.signal?.aborted) throw err;
    return { status: "failed", error: err instanceof Error ? err.message : String(err) };
  }
}

/** Sleeps until a time recorded when it first started, so a resumed sleep only waits what is left. */
async function sleepStep(
  input: EngineInput,
  seconds: number,
  path: string,
  previous: StepRecord | undefined,
): Promise<StepOutcome> {
  const now = input.now ?? Date.now;
  const until = Number(previous?.detail.until) || now() + seconds * 1000;
  if (!previous?.detail.until) await input.ledger.addStepDetail(path, { until });
  const wait = input.wait ?? delay;
  await wait(Math.max(0, until - now()), input.signal);
  return { status: "succeeded" };
}

async function record(input: EngineInput, path: string, u: StepUpdate): Promise<void> {
  await input.ledger.setStep(path, u);
  input.onChange?.();
}

function delay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener(
      "abort",
      () => {
        clearTimeout(timer);
        reject(signal.reason);
      },
      { once: true },
    );
  });
}
