/**
 * What a run would do, touching no host (`stackpilot run --dry-run`): each stage's steps with the
 * (stack, host, action) each deploy step's plan gives now, the images a build step would build,
 * the targets a rollback step would roll back, the hosts a hook step would run on. Every stage is
 * shown as if the ones before succeeded; conditions on the range (`when_modified`) are evaluated.
 */
import type { Procedure } from "../config/procedureSchema.ts";
import { stepKind } from "../config/procedureSchema.ts";
import type { ImagePlan } from "../plan/images.ts";
import { type HostRef, type Plan, resolveTargets } from "../plan/plan.ts";
import type { Policy } from "../policy/policy.ts";
import type { RunFilters } from "../state/procedureRuns.ts";
import { skipReason } from "./conditions.ts";
import { type RunDefinition, stepName } from "./definition.ts";
import { narrowPlan, planTargets } from "./narrow.ts";
import { stackMatcher } from "./patterns.ts";

export interface DryRunRow {
  stage: string;
  step: string;
  stack: string;
  host: string;
  action: string;
  reason: string;
}

export interface DryRunInput {
  definition: RunDefinition;
  /** The plan of the run's commit (forced when `force` is asked): what deploy steps narrow. */
  plan(force: boolean): Promise<{ plan: Plan; images: ImagePlan; policy: Policy }>;
  deployed: readonly { stack: string; host: string }[];
  inventory: readonly HostRef[];
  filters: RunFilters;
  changed: readonly string[] | undefined;
  branch: string;
  defaultBranch: string;
}

export async function dryRun(input: DryRunInput): Promise<DryRunRow[]> {
  const rows: DryRunRow[] = [];
  const root = input.definition.procedures[input.definition.root] as Procedure;
  await walk(input, root, "", rows);
  return rows;
}

async function walk(input: DryRunInput, proc: Procedure, indent: string, rows: DryRunRow[]): Promise<void> {
  for (const stage of proc.stages) {
    const stageName = `${indent}${stage.name}`;
    const stageSkip = skipReason(stage, false, input.changed);
    for (const step of stage.steps) {
      const name = stepName(step);
      const row = (stack: string, host: string, action: string, reason = "") =>
        rows.push({ stage: stageName, step: name, stack, host, action, reason });
      const skip = stageSkip ?? skipReason({ ...step, if: step.if ?? stage.if }, false, input.changed);
      if (skip) {
        row("", "", "skip", skip);
        continue;
      }
      if ("deploy" in step) {
        const { plan, policy } = await input.plan(step.deploy.force);
        const narrowed = narrowPlan({
          plan,
          selection: step.deploy,
          filters: input.filters,
          policy,
          inventory: input.inventory,
          branch: input.branch,
          defaultBranch: input.defaultBranch,
        });
        const targets = planTargets(narrowed.plan);
        for (const t of targets) row(t.stack, t.host, t.action, t.reason);
        for (const w of narrowed.warnings) row("", "", "warning", w);
        if (targets.length === 0 && narrowed.warnings.length === 0)
          row("", "", "nothing", "no target chosen");
      } else if ("build" in step) {
        const { images, policy } = await input.plan(false);
        const chosen = stackMatcher(step.build.stacks, policy.stackLabels);
        const builds = (images.builds ?? []).filter((b) => chosen(b.stack));
        for (const b of builds)
          row(b.stack, b.builder, b.reuse && !step.build.force ? "reuse" : "build", b.image);
        if (builds.length === 0) row("", "", "nothing", "no image to build");
      } else if ("rollback" in step) {
        const { policy } = await input.plan(false);
        const chosen = stackMatcher(step.rollback.stacks, policy.stackLabels);
        const hosts = step.rollback.hosts
          ? new Set(resolveTargets(step.rollback.hosts, input.inventory).hosts)
          : undefined;
        for (const d of input.deployed)
          if (chosen(d.stack) && (!hosts || hosts.has(d.host)))
            row(d.stack, d.host, "rollback", step.rollback.to ?? "previous release");
      } else if ("hook" in step) {
        for (const h of resolveTargets(step.hook.hosts, input.inventory).hosts)
          row("", h, "hook", `timeout ${step.hook.timeout} s`);
      } else if ("procedure" in step) {
        const nested = input.definition.procedures[step.procedure];
        if (nested) await walk(input, nested, `${stageName} > ${step.procedure} > `, rows);
      } else row("", "", stepKind(step), "");
    }
  }
}
