/**
 * Run a plan's deploys and removals across hosts: bounded parallelism (per host and overall),
 * one (stack, host) at a time under a database lock, every command recorded with its deployment,
 * and a failure on one host never stopping the others.
 */
import { type HostConfig, type RegistryConfig, repoAllowed } from "../config/hostsFile.ts";
import type { SecretRef } from "../config/secretRef.ts";
import type { Snapshot, StackSnapshot } from "../detect/snapshot.ts";
import type { GitRepo } from "../git/repo.ts";
import type { ImagePlan } from "../plan/images.ts";
import type { Plan } from "../plan/plan.ts";
import { type DeployTarget, type DeployTrigger, deployLockKey } from "../state/deployments.ts";
import { type LockWait, withLockWaiting } from "../state/locks.ts";
import type { DeploymentSource } from "../state/sources.ts";
import type { Store } from "../state/store.ts";
import { Limiter } from "../util/limiter.ts";
import { imagePreflight } from "./build.ts";
import { commandLog, commitSubject, expected, hookJournal, recordOutcome } from "./deploymentRecord.ts";
import type { HookJournal, HookRun } from "./hookSteps.ts";
import {
  DeployRefused,
  type DeployResult,
  errorText,
  type HostDeployer,
  type HostTarget,
} from "./hostDeploy.ts";
import { composeOf, forgetCompose, hostTarget } from "./hostTarget.ts";
import { imageSupport } from "./imageSteps.ts";
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

/**
 * Short, so that a deployer that died is noticed (and its deployment recovered) well within a
 * minute; heartbeats renew it every third of it.
 */
export const DB_LOCK_TTL_MS = 30_000;

/**
 * A target busy with another deploy is waited for (polling its lock), up to this long; meanwhile,
 * or once the lock is ours, a newer deployment queued for the same target supersedes this one.
 */
export const TARGET_WAIT: LockWait = { pollMs: 1_000, maxMs: 15 * 60_000 };

/** Who holds locks and releases: the actor and why, e.g. `alice (command)`. */
const holderOf = (input: Pick<OrchestrateInput, "actor" | "trigger">) => `${input.actor} (${input.trigger})`;

/** Results that are not failures: deployed, removed, or handed over to a newer deployment. */
export const isSuccess = (r: Pick<HostJobResult, "status">): boolean =>
  r.status === "succeeded" || r.status === "removed" || r.status === "superseded";

/**
 * Jobs in flight: overall as many as the SSH pool has channels by default (16), so that one
 * changed stack reaches a fleet of that size at once instead of in waves (with 8, the 9th host
 * started only when a whole deploy had finished: twice the wall time); per host 2.
 */
export const DEFAULT_CONCURRENCY = { total: 16, perHost: 2 } as const;

/** One (stack, host) of the plan to deploy or remove, with what it pulls first. */
interface TargetJob {
  stack: string;
  host: string;
  action: "deploy" | "remove";
  /** Services whose image changed since the deployed commit (the plan's decision, images.ts). */
  pull: readonly string[];
  /** Recorded with the deployment: the stack's environment and the plan's reasons. */
  environment: string | undefined;
  reasons: readonly string[];
}

/** What every target of one runPlan shares. */
interface RunContext {
  input: OrchestrateInput;
  hostsByName: ReadonlyMap<string, HostConfig>;
  images: ReturnType<typeof imageSupport>;
  /** The head commit's subject, recorded with each deployment. */
  subject: Promise<string | null>;
}

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

/**
 * One target: 1. refuse what the hosts file does not allow, 2. record a queued deployment,
 * 3. wait for the target's database lock (a newer deployment of it, queued meanwhile, supersedes
 * this one), 4. deploy or remove under it, 5. record the outcome. A failure stays with its target.
 */
async function runTarget(ctx: RunContext, job: TargetJob, buildError?: string): Promise<HostJobResult> {
  const { input } = ctx;
  const t0 = performance.now();
  const done = (r: Omit<HostJobResult, "durationMs" | "stack" | "host" | "action">): HostJobResult => {
    const result = {
      stack: job.stack,
      host: job.host,
      action: job.action,
      durationMs: Math.round(performance.now() - t0),
      ...r,
    };
    input.onProgress?.({ type: "done", result });
    return result;
  };
  input.onProgress?.({ type: "start", stack: job.stack, host: job.host, action: job.action });
  const config = ctx.hostsByName.get(job.host);
  if (!config) return done({ status: "failed", error: `host "${job.host}" is not in the hosts file` });
  if (!repoAllowed(config, input.repoId))
    return done({
      status: "failed",
      error: `${job.host} does not accept deploys from ${input.repoId} (hosts file: repos)`,
    });

  const stack = input.head.stacks.get(job.stack);
  const deploymentId = await input.ledger.createDeployment({
    repo: input.repoId,
    stack: job.stack,
    host: job.host,
    commit: input.head.commit,
    fingerprint: stack?.fingerprint ?? "removed",
    actor: input.actor,
    trigger: input.trigger,
    ...(input.rolloutId !== undefined ? { rolloutId: input.rolloutId } : {}),
    environment: job.environment ?? null,
    reasons: job.reasons,
    commitSubject: await ctx.subject,
    ...sourcesOf(stack),
  });
  const log = commandLog(input, ctx.images.redact, deploymentId);
  const journal = hookJournal(input.ledger, deploymentId);
  const hooks = () => (journal.runs.length ? { hooks: journal.runs } : {});
  const key = deployLockKey({ repo: input.repoId, stack: job.stack, host: job.host });
  const superseded = async () => {
    if (!(await input.ledger.supersedeIfStale?.(deploymentId))) return undefined;
    await log.flushed();
    return done({
      status: "superseded",
      deploymentId,
      error: "a newer deployment of this target was queued",
    });
  };
  try {
    return await waitForTarget(input, key, superseded, async (signal) => {
      const newer = await superseded();
      if (newer) return newer;
      // Holding the target's lock: a deployment of it still running lost its deployer.
      await input.ledger.interruptOthers?.(
        { repo: input.repoId, stack: job.stack, host: job.host },
        deploymentId,
      );
      // Not queued any more: recovery ended it (its rollout was found stopped); it must not run.
      if (!(await input.ledger.startDeployment(deploymentId))) {
        await log.flushed();
        return done({ status: "failed", deploymentId, error: "ended before it started (see its record)" });
      }
      // Asked only under the target's lock: a queued deployment runs nothing on its host.
      const target = hostTarget(config, await composeOf(input.remote, log.runner, config));
      const deployer = input.makeDeployer(log.runner);
      if (job.action === "remove" || !stack) {
        await deployer.remove(target, job.stack, input.actor, signal);
        await input.ledger.removeDeployed?.({ repo: input.repoId, stack: job.stack, host: job.host });
        await input.ledger.finishDeployment(deploymentId, { status: "succeeded" });
        return done({ status: "removed", deploymentId });
      }
      const result = await deployTarget(
        ctx,
        job,
        { stack, target, deployer, runner: log.runner, signal },
        { deploymentId, journal },
        buildError,
      );
      await log.flushed();
      if (result.status !== "succeeded") forgetCompose(input.remote, config);
      await recordOutcome(input, job, stack, deploymentId, result);
      return done({
        status: result.status,
        deploymentId,
        uploadBytes: result.uploadBytes,
        ...(result.error ? { error: result.error } : {}),
        ...(result.warnings?.length ? { warnings: result.warnings } : {}),
        ...hooks(),
      });
    });
  } catch (err) {
    forgetCompose(input.remote, config);
    await log.settled();
    const error = errorText(err);
    if (!expected(err))
      input.log?.error(
        `deployment #${deploymentId} (${job.stack} on ${job.host}) failed unexpectedly: ${err instanceof Error ? (err.stack ?? error) : error}`,
      );
    await input.ledger.finishDeployment(deploymentId, { status: "failed", error }).catch(() => {});
    return done({ status: "failed", deploymentId, error, ...hooks() });
  }
}

/** The image preflight (login, pull of built images), then the deploy itself. */
async function deployTarget(
  ctx: RunContext,
  job: TargetJob,
  on: {
    stack: StackSnapshot;
    target: HostTarget;
    deployer: HostDeployer;
    runner: Runner;
    signal: AbortSignal;
  },
  record: { deploymentId: number; journal: HookJournal },
  buildError: string | undefined,
): Promise<DeployResult> {
  const ops = ctx.images.opsOf(job.stack, job.host);
  if (ops === "missing") {
    throw new DeployRefused(
      `${job.stack} builds images, but this deploy has no image plan: a deploy host never builds (see the hosts file's builder and registries)`,
    );
  }
  if (ops) {
    if (buildError) throw new DeployRefused(buildError);
    on.signal.throwIfAborted();
    await imagePreflight(on.runner, job.host, await ctx.images.loginsOf(job.host, ops.login), ops.pull);
  }
  return on.deployer.deploy({
    repoDir: ctx.input.repo.dir,
    commit: ctx.input.head.commit,
    stack: on.stack,
    host: on.target,
    holder: holderOf(ctx.input),
    pullServices: job.pull,
    ...(ops ? { images: ops.images } : {}),
    signal: on.signal,
    origin: { actor: ctx.input.actor, trigger: ctx.input.trigger, deploymentId: record.deploymentId },
    hookJournal: record.journal,
  });
}

/**
 * Runs `fn` under the target's database lock. A lock held by another deploy is waited for; while
 * waiting, `superseded` (a newer deployment of the target was queued) ends the wait with its
 * result. Deploys of one target so run one at a time, and of several waiting, only the newest.
 */
async function waitForTarget(
  input: OrchestrateInput,
  key: string,
  superseded: () => Promise<HostJobResult | undefined>,
  fn: (signal: AbortSignal) => Promise<HostJobResult>,
): Promise<HostJobResult> {
  return withLockWaiting(
    input.ledger,
    {
      key,
      holder: holderOf(input),
      ttlMs: input.lockTtlMs ?? DB_LOCK_TTL_MS,
      wait: input.targetWait ?? TARGET_WAIT,
    },
    fn,
    superseded,
  );
}

/** The sources a stack's release takes files from, recorded with its deployment. */
function sourcesOf(stack: StackSnapshot | undefined): { sources?: DeploymentSource[] } {
  const used = stack?.mounts?.filter((m) => m.kind === "source") ?? [];
  return used.length
    ? { sources: used.map((m) => ({ name: m.name, repository: m.repository, commit: m.commit })) }
    : {};
}
