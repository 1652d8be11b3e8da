/**
 * A plan held against the rules: every deploy or removal the default branch's rules or the hosts
 * file do not allow becomes a skip that says which rule refused it. Pure.
 */

import type { Problem } from "../config/problems.ts";
import type { RepoConfig } from "../config/repoConfigSchema.ts";
import {
  type HostRef,
  type Plan,
  resolveTargets,
  type StackPlan,
  summarize,
  type TargetPlan,
} from "../plan/plan.ts";
import { compileGlob } from "../util/glob.ts";
import { changedRules, DEFAULT_ENVIRONMENT, type Policy, policyBroken, policySource } from "./policy.ts";

export interface ApplyPolicyInput {
  plan: Plan;
  policy: Policy;
  /** The hosts file's hosts; without them, only the environment rules are checked. */
  hosts?: readonly HostRef[];
  /** The repository, for the hosts' `repos` lists. */
  repoId: string;
  /** The config of the commit planned: its rule changes are pointed out (they apply after merge). */
  headConfig?: RepoConfig;
}

export function applyPolicy(input: ApplyPolicyInput): Plan {
  const { plan, policy } = input;
  const hostsByName = new Map((input.hosts ?? []).map((h) => [h.name, h]));
  const reachMemo = new Map<string, ReadonlySet<string> | undefined>();
  const reachOf = (env: string): ReadonlySet<string> | undefined => {
    if (!reachMemo.has(env)) {
      const rules = policy.environments.get(env);
      reachMemo.set(env, rules ? new Set(resolveTargets(rules.reach, input.hosts).hosts) : undefined);
    }
    return reachMemo.get(env);
  };
  const source = policySource(policy);
  const broken = policyBroken(policy);

  // Why a (stack, host) may not be deployed to under the rules; undefined when it may.
  const refusal = (env: string, host: string): string | undefined => {
    if (broken)
      return `the default branch's .github/stackpilot.yml (${source}) has errors: nothing deploys until they are fixed there`;
    const reach = reachOf(env);
    if (!reach)
      return `environment "${env}" is not defined on the default branch (${source}): it applies after merge`;
    if (!reach.has(host))
      return `${host} is not among the hosts ${env} may reach on the default branch (${source})`;
    const ref = hostsByName.get(host);
    if (ref?.environments?.length && !compileGlob([...ref.environments])(env))
      return `${host} takes only the environments ${ref.environments.join(", ")} (hosts file)`;
    if (ref?.repos?.length && !compileGlob([...ref.repos])(input.repoId))
      return `${host} does not take deploys from ${input.repoId} (hosts file: repos)`;
    return undefined;
  };

  const problems: Problem[] = [...plan.problems];
  const stacks: StackPlan[] = plan.stacks.map((stack) => {
    const env = stack.environment ?? DEFAULT_ENVIRONMENT;
    const refused: string[] = [];
    const targets = stack.targets.map((t): TargetPlan => {
      if (t.action === "skip") return t;
      const why = refusal(env, t.host);
      if (!why) return t;
      refused.push(t.host);
      return { ...t, action: "skip", reasons: [`refused: ${why}`] };
    });
    if (refused.length === 0) return stack;
    problems.push({
      file: ".github/stackpilot.yml",
      line: 0,
      col: 0,
      key: `stack ${stack.name}`,
      message: `${stack.name} is not deployed to ${refused.join(", ")}: ${refusal(env, refused[0] as string)}`,
      severity: "warning",
    });
    return { ...stack, targets };
  });
  for (const env of input.headConfig ? changedRules(input.headConfig, policy) : []) {
    problems.push({
      file: ".github/stackpilot.yml",
      line: 0,
      col: 0,
      key: `environments.${env}`,
      message: `rules for ${env} changed in this change: they apply after merge; until then deploys follow the default branch (${source})`,
      severity: "warning",
    });
  }
  return { ...plan, problems, stacks, summary: summarize(stacks) };
}
