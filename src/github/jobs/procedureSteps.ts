/**
 * What a procedure's steps do in the App (the engine, src/procedures/engine.ts, decides when):
 * - deploy: the run's commit planned as every deploy is (the planner thread, the default branch's
 *   rules, deploy-if-changed against what runs, stacks stopped on purpose skipped), narrowed to the
 *   step's stacks and hosts and the trigger's filters, then rolled out per environment through
 *   rollout.ts (GitHub Deployments and check runs as for any deploy, deploys by orchestrate.ts);
 * - build: the images of the chosen stacks built (and pushed) on their builders, nothing deployed;
 * - rollback: the chosen stacks re-activated at a retained release where they run (and pinned);
 * - hook: one command on each chosen host, with a timeout; its argv quoted by the one runner.
 */

import { repoAllowed } from "../../config/hostsFile.ts";
import type { BuildStep, DeployStep, HookStep, RollbackStep } from "../../config/procedureSchema.ts";
import { errorText, HostDeployer } from "../../deploy/hostDeploy.ts";
import { imageSupport } from "../../deploy/imageSteps.ts";
import { isSuccess, type OrchestrateInput } from "../../deploy/orchestrate.ts";
import { rollbackHost } from "../../deploy/rollbackHost.ts";
import { Runner } from "../../deploy/runner.ts";
import type { GitRepo } from "../../git/repo.ts";
import { resolveTargets } from "../../plan/plan.ts";
import type { PlanResponse } from "../../plan/planRequest.ts";
import type { Policy } from "../../policy/policy.ts";
import type { StepContext, StepOutcome, StepRunner } from "../../procedures/engine.ts";
import { narrowPlan, planTargets } from "../../procedures/narrow.ts";
import { stackMatcher } from "../../procedures/patterns.ts";
import { tail } from "../../procedures/view.ts";
import type { Run } from "../../state/procedureRuns.ts";
import { inventory, type JobContext, planJob } from "./jobContext.ts";
import { environmentsToDeploy, rollout } from "./rollout.ts";

export interface RunScope {
  run: Run;
  repo: GitRepo;
  head: string;
  branch: string;
  policy: Policy;
}

export function appStepRunner(ctx: JobContext, scope: RunScope): StepRunner {
  return {
    async run(step: StepContext): Promise<StepOutcome> {
      const s = step.step;
      if ("deploy" in s) return deployStep(ctx, scope, s, step);
      if ("build" in s) return buildStep(ctx, scope, s);
      if ("rollback" in s) return rollbackStep(ctx, scope, s);
      if ("hook" in s) return hookStep(ctx, scope, s);
      return { status: "failed", error: "this step kind is run by the engine" };
    },
  };
}

/** The run's commit planned for a step (base: the range's base, so plans say what changed). */
export function planStep(ctx: JobContext, scope: RunScope, force: boolean): Promise<PlanResponse> {
  return planJob(ctx, scope.repo, {
    base: scope.run.base ?? scope.head,
    head: scope.head,
    defaultBranch: ctx.ref.defaultBranch,
    ...(force ? { force: true } : {}),
  });
}

async function deployStep(
  ctx: JobContext,
  scope: RunScope,
  step: DeployStep,
  at: StepContext,
): Promise<StepOutcome> {
  const planned = await planStep(ctx, scope, step.deploy.force);
  if (!planned.plan.deployable)
    return {
      status: "failed",
      error: `.github/stackpilot.yml at ${scope.head.slice(0, 7)} has errors: nothing deploys`,
    };
  const { plan, warnings } = narrowPlan({
    plan: planned.plan,
    selection: step.deploy,
    filters: scope.run.filters,
    policy: planned.policy,
    inventory: inventory(ctx),
    branch: scope.branch,
    defaultBranch: ctx.ref.defaultBranch,
  });
  const skipped = planTargets(plan).filter((t) => t.action === "skip");
  const targets: Record<string, unknown>[] = skipped.map((t) => ({ ...t, status: "skipped" }));
  let failed = 0;
  for (const environment of environmentsToDeploy(plan)) {
    const results = await rollout(ctx, {
      plan,
      head: planned.head,
      images: planned.images,
      repo: scope.repo,
      environment,
      trigger: "merge",
      actor: scope.run.actor,
      policy: planned.policy,
      onRollout: (id) => at.record({ [`rollout:${environment}`]: id }),
    });
    for (const r of results) {
      if (!isSuccess(r)) failed++;
      targets.push({
        stack: r.stack,
        host: r.host,
        action: r.action,
        status: r.status,
        ...(r.deploymentId !== undefined ? { deploymentId: r.deploymentId } : {}),
        ...(r.error ? { error: tail(r.error, 3, 300) } : {}),
      });
    }
  }
  const deployed = targets.length - skipped.length;
  return {
    status: failed ? "failed" : "succeeded",
    reason: failed
      ? `${failed} of ${deployed} targets failed`
      : deployed
        ? `${deployed} deployed`
        : "nothing to deploy: every chosen target runs this content or is refused",
    detail: { targets, warnings },
  };
}

async function buildStep(ctx: JobContext, scope: RunScope, step: BuildStep): Promise<StepOutcome> {
  const planned = await planStep(ctx, scope, false);
  const chosen = stackMatcher(step.build.stacks, planned.policy.stackLabels);
  const excluded = stackMatcher(step.build.exclude, planned.policy.stackLabels);
  const builds = (planned.images.builds ?? []).filter(
    (b) => chosen(b.stack) && !excluded(b.stack) && (step.build.force || !b.reuse),
  );
  if (builds.length === 0) return { status: "succeeded", reason: "nothing to build" };
  const input: OrchestrateInput = {
    repo: scope.repo,
    repoId: ctx.ref.fullName,
    plan: planned.plan,
    head: planned.head,
    hosts: ctx.deps.hosts,
    remote: ctx.deps.remote,
    makeDeployer: (runner) => new HostDeployer(runner),
    ledger: ctx.deps.store,
    actor: scope.run.actor,
    trigger: "merge",
    images: { plan: planned.images, registries: ctx.deps.registries ?? [] },
  };
  const support = imageSupport(input, new Map(ctx.deps.hosts.map((h) => [h.name, h])), {
    holder: `${scope.run.actor} (procedure)`,
    ttlMs: 30_000,
  });
  const errors = (await Promise.all(builds.map((b) => support.build(b)))).filter(Boolean) as string[];
  return {
    status: errors.length ? "failed" : "succeeded",
    reason: `${builds.length - errors.length} of ${builds.length} images built`,
    ...(errors.length ? { error: errors.join("\n") } : {}),
    detail: {
      targets: builds.map((b) => ({ stack: b.stack, host: b.builder, action: "build", image: b.image })),
    },
  };
}

async function rollbackStep(ctx: JobContext, scope: RunScope, step: RollbackStep): Promise<StepOutcome> {
  const labels = scope.policy.stackLabels;
  const chosen = stackMatcher(step.rollback.stacks, labels);
  const excluded = stackMatcher(step.rollback.exclude, labels);
  const hosts = step.rollback.hosts
    ? new Set(resolveTargets(step.rollback.hosts, inventory(ctx)).hosts)
    : undefined;
  const deployed = (await ctx.deps.store.getDeployed(ctx.ref.fullName)).filter(
    (d) => chosen(d.stack) && !excluded(d.stack) && (!hosts || hosts.has(d.host)),
  );
  const targets = await Promise.all(
    deployed.map(async (d) => {
      const host = ctx.deps.hosts.find((h) => h.name === d.host);
      if (!host) return { stack: d.stack, host: d.host, status: "failed", error: "not in the hosts file" };
      const r = await rollbackHost({
        store: ctx.deps.store,
        remote: ctx.deps.remote,
        host,
        repo: ctx.ref.fullName,
        stack: d.stack,
        deployed: d,
        ...(step.rollback.to ? { to: step.rollback.to } : {}),
        actor: scope.run.actor,
        engine: { ...ctx.deps.engine, lockOwner: ctx.deps.installationId },
      });
      return r.ok
        ? { stack: d.stack, host: d.host, status: "rolled back", to: r.to }
        : { stack: d.stack, host: d.host, status: "failed", error: tail(r.error, 3, 300) };
    }),
  );
  const failed = targets.filter((t) => t.status === "failed").length;
  return {
    status: failed ? "failed" : "succeeded",
    reason: deployed.length
      ? `${deployed.length - failed} of ${deployed.length} rolled back`
      : "nothing deployed to roll back",
    detail: { targets },
  };
}

async function hookStep(ctx: JobContext, _scope: RunScope, step: HookStep): Promise<StepOutcome> {
  const names = resolveTargets(step.hook.hosts, inventory(ctx)).hosts;
  const argv = typeof step.hook.run === "string" ? ["sh", "-c", step.hook.run] : step.hook.run;
  const runner = new Runner(ctx.deps.remote);
  const targets = await Promise.all(
    names.map(async (name) => {
      const host = ctx.deps.hosts.find((h) => h.name === name);
      if (!host || !repoAllowed(host, ctx.ref.fullName))
        return { host: name, status: "failed", error: `${name} does not take work from ${ctx.ref.fullName}` };
      try {
        const r = await runner.run(name, argv, { timeoutMs: step.hook.timeout * 1000, allowFailure: true });
        const output = tail(`${r.stdout}${r.stderr}`, 10, 2000);
        return r.code === 0
          ? { host: name, status: "succeeded", output }
          : { host: name, status: "failed", error: `exited with ${r.code ?? "a signal (timeout?)"}`, output };
      } catch (err) {
        return { host: name, status: "failed", error: errorText(err) };
      }
    }),
  );
  const failed = targets.filter((t) => t.status === "failed").length;
  if (names.length === 0)
    return { status: "failed", error: "the hook's hosts match no host in the hosts file" };
  return {
    status: failed ? "failed" : "succeeded",
    reason: `${names.length - failed} of ${names.length} hosts ran it`,
    detail: { targets },
  };
}

export { scopeNote };

/** For logs: the run and where it is. */
function scopeNote(scope: RunScope): string {
  return `run #${scope.run.id} of ${scope.run.procedure ?? "deploy-changed"} at ${scope.head.slice(0, 7)}`;
}
