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
import { configWarning } from "../plan/planStack.ts";
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
  const { plan } = input;
  const refusal = refusalUnder(input);
  const problems: Problem[] = [...plan.problems];
  const stacks: StackPlan[] = plan.stacks.map((stack) => {
    const held = holdStack(stack, refusal);
    if (held.warning) problems.push(held.warning);
    return held.stack;
  });
  problems.push(...ruleChangeWarnings(input));
  return { ...plan, problems, stacks, summary: summarize(stacks) };
}

/** Why a (stack, host) may not be deployed to under the rules; undefined when it may. */
type Refusal = (env: string, host: string) => string | undefined;

/** The default branch's rules first, then the hosts file's entry for the host. */
function refusalUnder(input: ApplyPolicyInput): Refusal {
  const { policy } = input;
  const hostsByName = new Map((input.hosts ?? []).map((h) => [h.name, h]));
  const reachOf = reachUnder(policy, input.hosts);
  const source = policySource(policy);
  const broken = policyBroken(policy);
  return (env, host) => {
    if (broken)
      return `the default branch's .github/stackpilot.yml (${source}) has errors: nothing deploys until they are fixed there`;
    const reach = reachOf(env);
    if (!reach)
      return `environment "${env}" is not defined on the default branch (${source}): it applies after merge`;
    if (!reach.has(host))
      return `${host} is not among the hosts ${env} may reach on the default branch (${source})`;
    return hostsFileRefusal(hostsByName.get(host), env, input.repoId);
  };
}

/** The hosts an environment may reach, resolved once per environment; undefined when it is not defined. */
function reachUnder(
  policy: Policy,
  hosts: readonly HostRef[] | undefined,
): (env: string) => ReadonlySet<string> | undefined {
  const memo = new Map<string, ReadonlySet<string> | undefined>();
  return (env) => {
    if (!memo.has(env)) {
      const rules = policy.environments.get(env);
      memo.set(env, rules ? new Set(resolveTargets(rules.reach, hosts).hosts) : undefined);
    }
    return memo.get(env);
  };
}

/** A host's own limits in the hosts file: the environments and repositories it takes. */
function hostsFileRefusal(ref: HostRef | undefined, env: string, repoId: string): string | undefined {
  if (ref?.environments?.length && !compileGlob([...ref.environments])(env))
    return `${ref.name} takes only the environments ${ref.environments.join(", ")} (hosts file)`;
  if (ref?.repos?.length && !compileGlob([...ref.repos])(repoId))
    return `${ref.name} does not take deploys from ${repoId} (hosts file: repos)`;
  return undefined;
}

/** A stack's refused deploys and removals become skips, with one warning naming the hosts refused. */
function holdStack(stack: StackPlan, refusal: Refusal): { stack: StackPlan; warning?: Problem } {
  const env = stack.environment ?? DEFAULT_ENVIRONMENT;
  const refused: string[] = [];
  const targets = stack.targets.map((t): TargetPlan => {
    if (t.action === "skip") return t;
    const why = refusal(env, t.host);
    if (!why) return t;
    refused.push(t.host);
    return { ...t, action: "skip", reasons: [`refused: ${why}`] };
  });
  if (refused.length === 0) return { stack };
  const warning = configWarning(
    `stack ${stack.name}`,
    `${stack.name} is not deployed to ${refused.join(", ")}: ${refusal(env, refused[0] as string)}`,
  );
  return { stack: { ...stack, targets }, warning };
}

/** The planned commit's rule changes, pointed out: they apply only after merge. */
function ruleChangeWarnings(input: ApplyPolicyInput): Problem[] {
  const { policy, headConfig } = input;
  return (headConfig ? changedRules(headConfig, policy) : []).map((env) =>
    configWarning(
      `environments.${env}`,
      `rules for ${env} changed in this change: they apply after merge; until then deploys follow the default branch (${policySource(policy)})`,
    ),
  );
}
