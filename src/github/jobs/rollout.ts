/**
 * Deploy one environment's share of a plan and report it where the user looks:
 * 1. a rollout record (state/rollouts.ts) whose lease this process holds while it runs,
 * 2. a GitHub Deployment (ref = the SHA) queued -> in_progress, 3. the check run
 * `stackpilot/deploy: <env>`, both remembered with the rollout as soon as they exist, 4. the
 * deploys themselves (deploy/orchestrate.ts), with the check run updated as hosts finish, 5. the
 * final deployment status and check-run conclusion. Should the process die on the way, the lease
 * lapses and github/recovery.ts finishes what GitHub shows; the queue retries the job.
 */

import { errorText, HostDeployer } from "../../deploy/hostDeploy.ts";
import { type HostJobResult, isSuccess, runPlan } from "../../deploy/orchestrate.ts";
import type { GitRepo } from "../../git/repo.ts";
import { deployEvent } from "../../notify/events.ts";
import type { ImagePlan } from "../../plan/images.ts";
import { type Plan, summarize } from "../../plan/plan.ts";
import type { DeploySnapshot } from "../../plan/planRequest.ts";
import type { Policy } from "../../policy/policy.ts";
import type { DeployTrigger } from "../../state/deployments.ts";
import { rolloutLockKey } from "../../state/rollouts.ts";
import { checkRunProgress, type Progress } from "../api/checkRunProgress.ts";
import { createDeployment, setDeploymentStatus } from "../api/deployments.ts";
import { type DeployResult, deployCheckRun, fromHostJobResult } from "../render/checkRun.ts";
import type { JobContext } from "./jobContext.ts";

export interface RolloutInput {
  plan: Plan;
  head: DeploySnapshot;
  /** Builds and image operations of the plan (jobContext.planJob). */
  images?: ImagePlan;
  repo: GitRepo;
  environment: string;
  /** The default branch's rules: the environment's `url` (shown with the deployment) is theirs. */
  policy: Pick<Policy, "environments">;
  trigger: DeployTrigger;
  actor: string;
  /** Told the rollout's id as soon as it exists (a procedure step records it for its run). */
  onRollout?: (id: number) => Promise<void>;
}

/** The plan restricted to one environment's stacks. */
export function planForEnvironment(plan: Plan, environment: string): Plan {
  const stacks = plan.stacks.filter((s) => (s.environment ?? "default") === environment);
  return { ...plan, stacks, summary: summarize(stacks) };
}

/** Environments with something to do in a plan. */
export function environmentsToDeploy(plan: Plan): string[] {
  const envs = plan.stacks
    .filter((s) => s.targets.some((t) => t.action !== "skip"))
    .map((s) => s.environment ?? "default");
  return [...new Set(envs)].sort();
}

/** A rollout's lease: renewed every third of it, so a dead process's rollout is found within it. */
export const ROLLOUT_LEASE_MS = 30_000;

export async function rollout(ctx: JobContext, input: RolloutInput): Promise<HostJobResult[]> {
  const plan = planForEnvironment(input.plan, input.environment);
  const targets = plan.stacks.flatMap((s) =>
    s.targets
      .filter((t) => t.action !== "skip")
      .map((t): RolloutTarget => ({ stack: s.name, host: t.host, action: t.action as "deploy" | "remove" })),
  );
  if (targets.length === 0) return [];
  const { store } = ctx.deps;
  // A retried job after a crash: what the dead process left is ended first, not a recovery round later.
  for (const d of await store.recoverInterrupted())
    ctx.log.warn(`deployment #${d.id} (${d.stack} on ${d.host}) was interrupted: ${d.error}`);
  const id = await store.createRollout({
    repo: ctx.ref.fullName,
    installationId: ctx.ref.installationId,
    environment: input.environment,
    commit: plan.head,
    trigger: input.trigger,
    actor: input.actor,
  });
  await input.onRollout?.(id);
  return store.withLock(
    rolloutLockKey(id),
    `${input.actor} (${input.trigger})`,
    ROLLOUT_LEASE_MS,
    async () => {
      try {
        const results = await runRollout(ctx, input, plan, targets, id);
        const failed = results.some((r) => !isSuccess(r));
        await store.finishRollout(id, { status: failed ? "failed" : "succeeded", reported: true });
        return results;
      } catch (err) {
        // GitHub did not take the final status (or something broke): recovery reports it later.
        await store
          .finishRollout(id, { status: "failed", error: errorText(err), reported: false })
          .catch(() => {});
        throw err;
      }
    },
  );
}

/** One (stack, host) the rollout deploys to or removes from. */
interface RolloutTarget {
  stack: string;
  host: string;
  action: "deploy" | "remove";
}

/** The rollout's rows in its check run, by `stack\0host`, updated as hosts start and finish. */
type DeployRows = Map<string, DeployResult>;

/** The rollout's check run, as the deployment's statuses link to it and its updates name it. */
interface RolloutCheckRun {
  id: number;
  name: string;
  url: string | undefined;
}

/** Steps 2 to 5 of the list above, under the rollout's lease. */
async function runRollout(
  ctx: JobContext,
  input: RolloutInput,
  plan: Plan,
  targets: RolloutTarget[],
  rolloutId: number,
): Promise<HostJobResult[]> {
  const rows: DeployRows = new Map(
    targets.map((t) => [
      `${t.stack}\0${t.host}`,
      { stack: t.stack, host: t.host, action: t.action, status: "queued" },
    ]),
  );
  const deploymentId = await openDeployment(ctx, input, plan.head, targets, rolloutId);
  const checkRun = await openCheckRun(ctx, input.environment, plan.head, rows, rolloutId);
  await setDeploymentStatus(ctx.octokit, {
    owner: ctx.owner,
    repo: ctx.repo,
    deployment_id: deploymentId,
    state: "in_progress",
    description: `deploying ${targetCount(targets.length)}`,
    logUrl: checkRun.url,
  });
  const done = await deployTargets(ctx, input, plan, rolloutId, rows, checkRun);
  recordOutcome(ctx, input.environment, plan.head, done);
  await reportEnd(ctx, input, deploymentId, checkRun, done);
  return done;
}

const targetCount = (n: number) => `${n} target${n === 1 ? "" : "s"}`;

/** The GitHub Deployment, remembered with the rollout and queued. */
async function openDeployment(
  ctx: JobContext,
  input: RolloutInput,
  sha: string,
  targets: RolloutTarget[],
  rolloutId: number,
): Promise<number> {
  const { owner, repo } = ctx;
  const deploymentId = await createDeployment(ctx.octokit, {
    owner,
    repo,
    sha,
    environment: input.environment,
    description: `Stackpilot: ${targetCount(targets.length)} by ${input.actor}`,
    payload: { stacks: [...new Set(targets.map((t) => t.stack))] },
  });
  await ctx.deps.store.setRolloutGithub(rolloutId, { githubDeploymentId: deploymentId });
  await setDeploymentStatus(ctx.octokit, {
    owner,
    repo,
    deployment_id: deploymentId,
    state: "queued",
    description: "queued",
  });
  return deploymentId;
}

/** The check run `stackpilot/deploy: <env>`, every target queued, remembered with the rollout. */
async function openCheckRun(
  ctx: JobContext,
  environment: string,
  sha: string,
  rows: DeployRows,
  rolloutId: number,
): Promise<RolloutCheckRun> {
  const name = `stackpilot/deploy: ${environment}`;
  const first = deployCheckRun(environment, [...rows.values()], {
    headSha: sha,
    startedAt: new Date().toISOString(),
  });
  const { data: run } = await ctx.octokit.rest.checks.create({
    owner: ctx.owner,
    repo: ctx.repo,
    ...first.params,
    name,
  });
  await ctx.deps.store.setRolloutGithub(rolloutId, { checkRunId: run.id });
  return { id: run.id, name, url: run.html_url ?? undefined };
}

/** The deploys themselves, the check run following each host's start and end. */
async function deployTargets(
  ctx: JobContext,
  input: RolloutInput,
  plan: Plan,
  rolloutId: number,
  rows: DeployRows,
  checkRun: RolloutCheckRun,
): Promise<HostJobResult[]> {
  const progress = checkRunFollowing(ctx, input.environment, plan.head, rows, checkRun);
  const done = await runPlan({
    repo: input.repo,
    repoId: ctx.ref.fullName,
    plan,
    head: input.head,
    hosts: ctx.deps.hosts,
    remote: ctx.deps.remote,
    makeDeployer: (runner) =>
      new HostDeployer(runner, { ...ctx.deps.engine, lockOwner: ctx.deps.installationId }),
    ledger: ctx.deps.store,
    actor: input.actor,
    trigger: input.trigger,
    rolloutId,
    log: ctx.log,
    ...(input.images ? { images: { plan: input.images, registries: ctx.deps.registries ?? [] } } : {}),
    onProgress: (e) => {
      if (e.type === "start") {
        const r = rows.get(`${e.stack}\0${e.host}`);
        if (r) r.status = "in_progress";
      } else rows.set(`${e.result.stack}\0${e.result.host}`, fromHostJobResult(e.result));
      progress.changed();
    },
  });
  await progress.finish();
  return done;
}

/** Check-run updates as hosts finish (coalesced, one in flight); the final state is retried. */
function checkRunFollowing(
  ctx: JobContext,
  environment: string,
  sha: string,
  rows: DeployRows,
  checkRun: RolloutCheckRun,
): Progress {
  return checkRunProgress({
    render: () => {
      const { head_sha: _ignored, ...params } = deployCheckRun(environment, [...rows.values()], {
        headSha: sha,
      }).params;
      return params;
    },
    send: (params) =>
      ctx.octokit.rest.checks.update({
        owner: ctx.owner,
        repo: ctx.repo,
        check_run_id: checkRun.id,
        ...params,
        name: checkRun.name,
      }),
    log: ctx.log,
  });
}

/** Each deploy's metrics and notification. */
function recordOutcome(ctx: JobContext, environment: string, sha: string, done: HostJobResult[]): void {
  for (const r of done) {
    ctx.deps.metrics?.deployment(environment, r.status, r.durationMs);
    for (const h of r.hooks ?? []) ctx.deps.metrics?.hookRun(h.hook, h.status, h.durationMs);
  }
  for (const r of done) {
    const event = deployEvent(ctx.ref.fullName, sha, r);
    if (event) ctx.deps.notifier?.emit(event);
  }
}

/** The deployment's final status: success, or the failed targets named. */
async function reportEnd(
  ctx: JobContext,
  input: RolloutInput,
  deploymentId: number,
  checkRun: RolloutCheckRun,
  done: HostJobResult[],
): Promise<void> {
  const failed = done.filter((r) => !isSuccess(r));
  const url = input.policy.environments.get(input.environment)?.url;
  await setDeploymentStatus(ctx.octokit, {
    owner: ctx.owner,
    repo: ctx.repo,
    deployment_id: deploymentId,
    state: failed.length ? "failure" : "success",
    description: failed.length
      ? `${failed.length} of ${done.length} failed: ${failed.map((f) => `${f.stack}@${f.host}`).join(", ")}`
      : `${done.length} deployed`,
    logUrl: checkRun.url,
    ...(url ? { environmentUrl: url } : {}),
  });
}
