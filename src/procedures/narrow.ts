/**
 * A deploy step's share of a plan (pure): the stacks its patterns choose less those it excludes,
 * on the hosts it names, within the trigger's filters; and the environment branch rule of the
 * default branch (an environment deploys only its `branch`, by default the default branch). Stacks
 * outside the selection leave the plan; targets refused stay in it as skips with the reason.
 */
import type { HostSelector } from "../config/repoConfigSchema.ts";
import { type HostRef, type Plan, resolveTargets, type StackPlan, summarize } from "../plan/plan.ts";
import { DEFAULT_ENVIRONMENT, type Policy, policySource } from "../policy/policy.ts";
import type { RunFilters } from "../state/procedureRuns.ts";
import { describeSelector, type StackSelector, stackMatcher } from "./patterns.ts";

export interface Selection {
  stacks: readonly StackSelector[];
  exclude?: readonly StackSelector[];
  hosts?: readonly HostSelector[] | undefined;
}

export interface NarrowInput {
  plan: Plan;
  selection: Selection;
  filters: RunFilters;
  policy: Pick<Policy, "stackLabels" | "environments" | "branch" | "commit">;
  inventory: readonly HostRef[];
  /** The branch the run deploys; environments whose `branch` differs refuse it. */
  branch: string;
  defaultBranch: string;
}

export interface Narrowed {
  plan: Plan;
  /** Patterns that chose nothing: said in the step's result, as config warnings are. */
  warnings: string[];
}

export function narrowPlan(input: NarrowInput): Narrowed {
  const { plan, selection, filters, policy } = input;
  const labels = policy.stackLabels;
  const names = plan.stacks.map((s) => s.name);
  const warnings: string[] = [];
  for (const sel of selection.stacks)
    if (!names.some(stackMatcher([sel], labels)))
      warnings.push(`stacks pattern ${describeSelector(sel)} matches no stack`);
  const chosen = stackMatcher(selection.stacks, labels);
  const excluded = selection.exclude?.length ? stackMatcher(selection.exclude, labels) : () => false;
  const filtered = filters.stacks?.length
    ? stackMatcher(filters.stacks as StackSelector[], labels)
    : () => true;
  const hostsOf = (selectors: readonly HostSelector[] | undefined, what: string) => {
    if (!selectors) return undefined;
    const r = resolveTargets(selectors, input.inventory);
    for (const w of r.warnings) warnings.push(`${what}: ${w}`);
    return new Set(r.hosts);
  };
  const stepHosts = hostsOf(selection.hosts, "hosts");
  const filterHosts = filters.hosts?.length
    ? hostsOf(filters.hosts as HostSelector[], "trigger hosts")
    : undefined;
  const source = policySource(policy);

  const stacks: StackPlan[] = [];
  for (const s of plan.stacks) {
    if (!chosen(s.name) || excluded(s.name) || !filtered(s.name)) continue;
    const env = s.environment ?? DEFAULT_ENVIRONMENT;
    const envBranch = policy.environments.get(env)?.branch ?? input.defaultBranch;
    const targets = s.targets
      .filter((t) => (!stepHosts || stepHosts.has(t.host)) && (!filterHosts || filterHosts.has(t.host)))
      .map((t) =>
        t.action !== "skip" && envBranch !== input.branch
          ? {
              ...t,
              action: "skip" as const,
              reasons: [`refused: ${env} deploys branch ${envBranch}, not ${input.branch} (${source})`],
            }
          : t,
      );
    stacks.push({ ...s, targets });
  }
  return { plan: { ...plan, stacks, summary: summarize(stacks) }, warnings };
}

/** Every (stack, host, action) of a narrowed plan, for results and dry runs. */
export function planTargets(plan: Plan): { stack: string; host: string; action: string; reason: string }[] {
  return plan.stacks.flatMap((s) =>
    s.targets.map((t) => ({ stack: s.name, host: t.host, action: t.action, reason: t.reasons[0] ?? "" })),
  );
}
