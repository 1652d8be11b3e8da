/**
 * One (stack, host) target of a plan run (orchestrate.ts): refused when the hosts file does not
 * allow it, recorded as a queued deployment, waited for under its database lock (or superseded by
 * a newer deployment of it), deployed or removed, and its outcome recorded. A failure stays with
 * its target.
 */
import { type HostConfig, repoAllowed } from "../config/hostsFile.ts";
import type { StackSnapshot } from "../detect/snapshot.ts";
import { type DeployTarget, deployLockKey } from "../state/deployments.ts";
import { withLockWaiting } from "../state/locks.ts";
import type { DeploymentSource } from "../state/sources.ts";
import { imagePreflight } from "./build.ts";
import { DB_LOCK_TTL_MS, holderOf, TARGET_WAIT } from "./dbLocks.ts";
import { commandLog, expected, hookJournal, recordOutcome } from "./deploymentRecord.ts";
import type { HookJournal } from "./hookSteps.ts";
import {
  DeployRefused,
  type DeployResult,
  errorText,
  type HostDeployer,
  type HostTarget,
} from "./hostDeploy.ts";
import { composeOf, forgetCompose, hostTarget } from "./hostTarget.ts";
import type { imageSupport } from "./imageSteps.ts";
import type { HostJobResult, OrchestrateInput } from "./orchestrate.ts";
import type { Runner } from "./runner.ts";

/** One (stack, host) of the plan to deploy or remove, with what it pulls first. */
export interface TargetJob {
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
export interface RunContext {
  input: OrchestrateInput;
  hostsByName: ReadonlyMap<string, HostConfig>;
  images: ReturnType<typeof imageSupport>;
  /** The head commit's subject, recorded with each deployment. */
  subject: Promise<string | null>;
}

/** A result without what every result of the target repeats. */
type Outcome = Omit<HostJobResult, "durationMs" | "stack" | "host" | "action">;

/** A target once its deployment is recorded: what its steps share. */
interface QueuedTarget {
  ctx: RunContext;
  job: TargetJob;
  config: HostConfig;
  stack: StackSnapshot | undefined;
  /** The (repo, stack, host) in the ledger. */
  id: DeployTarget;
  deploymentId: number;
  log: ReturnType<typeof commandLog>;
  journal: ReturnType<typeof hookJournal>;
  /** The target's result, reported as done. */
  done(r: Outcome): HostJobResult;
}

/**
 * One target: 1. refuse what the hosts file does not allow, 2. record a queued deployment,
 * 3. wait for the target's database lock (a newer deployment of it, queued meanwhile, supersedes
 * this one), 4. deploy or remove under it, 5. record the outcome. A failure stays with its target.
 */
export async function runTarget(
  ctx: RunContext,
  job: TargetJob,
  buildError?: string,
): Promise<HostJobResult> {
  const { input } = ctx;
  const done = reporter(input, job);
  input.onProgress?.({ type: "start", stack: job.stack, host: job.host, action: job.action });
  const config = ctx.hostsByName.get(job.host);
  if (!config) return done({ status: "failed", error: `host "${job.host}" is not in the hosts file` });
  if (!repoAllowed(config, input.repoId))
    return done({
      status: "failed",
      error: `${job.host} does not accept deploys from ${input.repoId} (hosts file: repos)`,
    });

  const stack = input.head.stacks.get(job.stack);
  const deploymentId = await recordQueued(ctx, job, stack);
  const t: QueuedTarget = {
    ctx,
    job,
    config,
    stack,
    id: { repo: input.repoId, stack: job.stack, host: job.host },
    deploymentId,
    log: commandLog(input, ctx.images.redact, deploymentId),
    journal: hookJournal(input.ledger, deploymentId),
    done,
  };
  try {
    return await waitForTarget(
      input,
      deployLockKey(t.id),
      () => superseded(t),
      (signal) => runLocked(t, signal, buildError),
    );
  } catch (err) {
    return failed(t, err);
  }
}

/** Completes a target's results (timed from now) and reports each as done. */
function reporter(input: OrchestrateInput, job: TargetJob): (r: Outcome) => HostJobResult {
  const t0 = performance.now();
  return (r) => {
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
}

/** The target's deployment, recorded as queued; returns its id. */
async function recordQueued(
  ctx: RunContext,
  job: TargetJob,
  stack: StackSnapshot | undefined,
): Promise<number> {
  const { input } = ctx;
  return input.ledger.createDeployment({
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
}

/** The result when a newer deployment of the target was queued (this one is then superseded). */
async function superseded(t: QueuedTarget): Promise<HostJobResult | undefined> {
  if (!(await t.ctx.input.ledger.supersedeIfStale?.(t.deploymentId))) return undefined;
  await t.log.flushed();
  return t.done({
    status: "superseded",
    deploymentId: t.deploymentId,
    error: "a newer deployment of this target was queued",
  });
}

/** Under the target's database lock: start the deployment unless superseded, then deploy or remove. */
async function runLocked(
  t: QueuedTarget,
  signal: AbortSignal,
  buildError: string | undefined,
): Promise<HostJobResult> {
  const { input } = t.ctx;
  const { deploymentId } = t;
  const newer = await superseded(t);
  if (newer) return newer;
  // Holding the target's lock: a deployment of it still running lost its deployer.
  await input.ledger.interruptOthers?.(t.id, deploymentId);
  // Not queued any more: recovery ended it (its rollout was found stopped); it must not run.
  if (!(await input.ledger.startDeployment(deploymentId))) {
    await t.log.flushed();
    return t.done({ status: "failed", deploymentId, error: "ended before it started (see its record)" });
  }
  // Asked only under the target's lock: a queued deployment runs nothing on its host.
  const target = hostTarget(t.config, await composeOf(input.remote, t.log.runner, t.config));
  const deployer = input.makeDeployer(t.log.runner);
  if (t.job.action === "remove" || !t.stack) {
    await deployer.remove(target, t.job.stack, input.actor, signal);
    await input.ledger.removeDeployed?.(t.id);
    await input.ledger.finishDeployment(deploymentId, { status: "succeeded" });
    return t.done({ status: "removed", deploymentId });
  }
  return deployRecorded(t, t.stack, { target, deployer, signal }, buildError);
}

/** The deploy, then its outcome recorded (a host that failed has its compose asked again next time). */
async function deployRecorded(
  t: QueuedTarget,
  stack: StackSnapshot,
  on: { target: HostTarget; deployer: HostDeployer; signal: AbortSignal },
  buildError: string | undefined,
): Promise<HostJobResult> {
  const { input } = t.ctx;
  const result = await deployTarget(
    t.ctx,
    t.job,
    { stack, ...on, runner: t.log.runner },
    { deploymentId: t.deploymentId, journal: t.journal },
    buildError,
  );
  await t.log.flushed();
  if (result.status !== "succeeded") forgetCompose(input.remote, t.config);
  await recordOutcome(input, t.job, stack, t.deploymentId, result);
  return t.done({
    status: result.status,
    deploymentId: t.deploymentId,
    uploadBytes: result.uploadBytes,
    ...(result.error ? { error: result.error } : {}),
    ...(result.warnings?.length ? { warnings: result.warnings } : {}),
    ...hooksOf(t),
  });
}

/** A target that threw: logged when it is a bug rather than the field's, recorded as failed. */
async function failed(t: QueuedTarget, err: unknown): Promise<HostJobResult> {
  const { input } = t.ctx;
  forgetCompose(input.remote, t.config);
  await t.log.settled();
  const error = errorText(err);
  if (!expected(err))
    input.log?.error(
      `deployment #${t.deploymentId} (${t.job.stack} on ${t.job.host}) failed unexpectedly: ${err instanceof Error ? (err.stack ?? error) : error}`,
    );
  await input.ledger.finishDeployment(t.deploymentId, { status: "failed", error }).catch(() => {});
  return t.done({ status: "failed", deploymentId: t.deploymentId, error, ...hooksOf(t) });
}

/** The hook attempts the target made, when it made any. */
const hooksOf = (t: QueuedTarget) => (t.journal.runs.length ? { hooks: t.journal.runs } : {});

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
