/**
 * Run a plan's deploys and removals across hosts: bounded parallelism (per host and overall),
 * one (stack, host) at a time under a database lock, every command recorded with its deployment,
 * and a failure on one host never stopping the others. Each target's own run is planTarget.ts's.
 */
import type { HostConfig, RegistryConfig } from "../config/hostsFile.ts";
import type { SecretRef } from "../config/secretRef.ts";
import type { Snapshot } from "../detect/snapshot.ts";
import type { GitRepo } from "../git/repo.ts";
import type { ImagePlan } from "../plan/images.ts";
import type { Plan } from "../plan/plan.ts";
import type { DeployTarget, DeployTrigger } from "../state/deployments.ts";
import type { LockWait } from "../state/locks.ts";
import type { Store } from "../state/store.ts";
import { Limiter } from "../util/limiter.ts";
import { DB_LOCK_TTL_MS, holderOf } from "./dbLocks.ts";
import { commitSubject } from "./deploymentRecord.ts";
import type { HookRun } from "./hookSteps.ts";
import type { HostDeployer } from "./hostDeploy.ts";
import { imageSupport } from "./imageSteps.ts";
import { type RunContext, runTarget, type TargetJob } from "./planTarget.ts";
import type { RemoteExec, Runner } from "./runner.ts";

/** What the orchestrator needs from the state store. */
export type DeployLedger = Pick<
  Store,
  | "createDeployment"
  | "startDeployment"
  | "finishDeployment"
  | "appendCommandLog"
  | "setDeployed"
  | "withLock"
> &
  Partial<
    Pick<
      Store,
      | "startBuild"
      | "finishBuild"
      | "supersedeIfStale"
      | "interruptOthers"
      | "startHookRun"
      | "finishHookRun"
      | "priorHookAttempts"
    >
  > & {
    removeDeployed?(target: DeployTarget): Promise<void>;
  };

/** Explicit deploys clear a rollback pin; automatic ones never reach a pinned host (the plan skips it). */
export const EXPLICIT: ReadonlySet<DeployTrigger> = new Set(["cli", "command"]);

export interface HostJobResult {
  stack: string;
  host: string;
  action: "deploy" | "remove";
  /** `superseded`: a newer deployment of the same (stack, host) was queued while this one waited. */
  status: "succeeded" | "failed" | "rolled_back" | "removed" | "superseded";
  deploymentId?: number;
  error?: string;
  durationMs: number;
  uploadBytes?: number;
  /** Every hook attempt the deploy made, in order. */
  hooks?: HookRun[];
  /** What went wrong without failing the deploy (a hook that is not required failed). */
  warnings?: string[];
}

export type ProgressEvent =
  | { type: "start"; stack: string; host: string; action: "deploy" | "remove" }
  | { type: "done"; result: HostJobResult };

export interface OrchestrateInput {
  repo: GitRepo;
  /** Repository identity in the ledger (e.g. `owner/name`, or the checkout path for the CLI). */
  repoId: string;
  plan: Plan;
  /** The head commit and its stacks (the planner sends only the stacks a deploy acts on). */
  head: Pick<Snapshot, "commit" | "stacks">;
  hosts: readonly HostConfig[];
  remote: RemoteExec;
  makeDeployer: (runner: Runner) => HostDeployer;
  ledger: DeployLedger;
  actor: string;
  trigger: DeployTrigger;
  concurrency?: { total?: number; perHost?: number };
  redact?: (text: string) => string;
  onProgress?: (e: ProgressEvent) => void;
  /** Database lock ttl; heartbeats renew it every third of that while the deploy runs. */
  lockTtlMs?: number;
  /** Builds and per-target image operations (plan/images.ts); required for stacks with `build:`. */
  images?: ImagesInput;
  /** How a target busy with another deploy is waited for (default TARGET_WAIT). */
  targetWait?: LockWait;
  /** The App rollout these deployments belong to. */
  rolloutId?: number;
  /** Where errors that are bugs rather than the field's (a host, a lock) are logged, with the deployment id. */
  log?: { error(msg: string): void };
}

export interface ImagesInput {
  plan: ImagePlan;
  registries: readonly RegistryConfig[];
  /** Reads registry passwords (injectable for tests); the values only ever go to stdin. */
  readSecret?: (ref: SecretRef, what: string) => Promise<string>;
}

/** Results that are not failures: deployed, removed, or handed over to a newer deployment. */
export const isSuccess = (r: Pick<HostJobResult, "status">): boolean =>
  r.status === "succeeded" || r.status === "removed" || r.status === "superseded";

/**
 * Jobs in flight: overall as many as the SSH pool has channels by default (16), so that one
 * changed stack reaches a fleet of that size at once instead of in waves (with 8, the 9th host
 * started only when a whole deploy had finished: twice the wall time); per host 2.
 */
export const DEFAULT_CONCURRENCY = { total: 16, perHost: 2 } as const;

/**
 * Run a plan: 1. start each stack's builds, 2. run every deploy/remove target, within the
 * concurrency limits, each once its stack's builds are done (failing without touching its host
 * when one failed), 3. return a result per target.
 */
export async function runPlan(input: OrchestrateInput): Promise<HostJobResult[]> {
  const hostsByName = new Map(input.hosts.map((h) => [h.name, h]));
  const ctx: RunContext = {
    input,
    hostsByName,
    images: imageSupport(input, hostsByName, {
      holder: holderOf(input),
      ttlMs: input.lockTtlMs ?? DB_LOCK_TTL_MS,
    }),
    subject: commitSubject(input.repo, input.head.commit),
  };
  const jobs: TargetJob[] = input.plan.stacks.flatMap((s) =>
    s.targets
      .filter((t) => t.action !== "skip")
      .map((t) => ({
        stack: s.name,
        host: t.host,
        action: t.action as TargetJob["action"],
        pull: t.pull ?? [],
        environment: s.environment,
        reasons: t.reasons,
      })),
  );
  const limited = limiters(input);
  const builds = startBuilds(ctx, jobs, limited);
  return Promise.all(
    jobs.map(async (job) => {
      const buildError = await builds.get(job.stack);
      return limited(job.host, () => runTarget(ctx, job, buildError));
    }),
  );
}

/** Runs `fn` within the overall and the host's concurrency limits. */
function limiters(input: OrchestrateInput) {
  const total = new Limiter(input.concurrency?.total ?? DEFAULT_CONCURRENCY.total);
  const perHost = new Map<string, Limiter>();
  return <T>(host: string, fn: () => Promise<T>): Promise<T> => {
    const hostLimit =
      perHost.get(host) ?? new Limiter(input.concurrency?.perHost ?? DEFAULT_CONCURRENCY.perHost);
    perHost.set(host, hostLimit);
    return total.run(() => hostLimit.run(fn));
  };
}

/**
 * Each stack's builds start at once; a stack's deploys wait for them (outside the limiters, so a
 * waiting deploy never holds a slot a build needs), other stacks' deploys do not wait. Per stack:
 * undefined when its builds succeeded, else the error its deploys fail with.
 */
function startBuilds(
  ctx: RunContext,
  jobs: readonly TargetJob[],
  limited: ReturnType<typeof limiters>,
): Map<string, Promise<string | undefined>> {
  const builds = new Map<string, Promise<string | undefined>>();
  const deploying = new Set(jobs.filter((j) => j.action === "deploy").map((j) => j.stack));
  for (const b of ctx.input.images?.plan.builds ?? []) {
    if (b.reuse || !deploying.has(b.stack)) continue;
    const earlier = builds.get(b.stack) ?? Promise.resolve(undefined);
    const run = limited(b.builder, () => ctx.images.build(b));
    builds.set(
      b.stack,
      Promise.all([earlier, run]).then(([e, r]) => e ?? r),
    );
  }
  return builds;
}
