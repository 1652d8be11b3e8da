/**
 * The rules that decide who may deploy what, where and when, and where they come from.
 *
 * A repository's `.github/stackpilot.yml` holds two kinds of settings. Content (which stacks exist,
 * their compose files, watched paths, hosts they ask for) is read at the commit being planned: a
 * pull request may change it. Rules (each environment's `deploy_on`, `branch`, `requires`,
 * `permission`, `teams`, and which hosts it may reach) are read from the default branch only, the
 * way Probot's `context.config()` does, so a change can never grant itself a deploy: its changes to
 * rules apply after merge. The hosts file (server side) has the last word on every host.
 *
 * Pure: a Policy is made from a parsed config; src/policy/load.ts reads it from git.
 */

import type { Problem } from "../config/problems.ts";
import type { Procedure } from "../config/procedureSchema.ts";
import type { DriftConfig, EnvironmentConfig, HostSelector, RepoConfig } from "../config/repoConfigSchema.ts";
import { EnvironmentSchema } from "../config/repoConfigSchema.ts";

/** The environment of stacks that name none. */
export const DEFAULT_ENVIRONMENT = "default";

export interface EnvironmentRules extends EnvironmentConfig {
  name: string;
  /**
   * Hosts the environment may reach: its own `hosts`, `defaults.hosts`, and the `hosts` of every
   * stack entry of the environment, all as written on the default branch. Empty: none.
   */
  reach: HostSelector[];
}

export interface Policy {
  /** The branch the rules were read from. */
  branch: string;
  /** The commit they were read at; undefined when the branch does not exist (yet). */
  commit?: string;
  /** Environments defined on the default branch, plus the implicit default one. */
  environments: ReadonlyMap<string, EnvironmentRules>;
  /** Problems of the default branch's config. Any error refuses every deploy until it is fixed. */
  problems: Problem[];
  /** Environment of each stack with an entry on the default branch; others get `defaultEnvironment`. */
  stackEnvironments: ReadonlyMap<string, string>;
  defaultEnvironment: string;
  /** Procedures as the default branch defines them (a change's own procedures apply after merge). */
  procedures: ReadonlyMap<string, Procedure>;
  /** Labels of the stack entries on the default branch: procedures and triggers choose stacks by them. */
  stackLabels: ReadonlyMap<string, Readonly<Record<string, string>>>;
  /** `drift` of the stack entries that set it, over their environment's (policy/drift.ts). */
  stackDrift: ReadonlyMap<string, DriftConfig>;
}

/** `main at 1a2b3c4`, for messages that cite a rule. */
export function policySource(policy: Pick<Policy, "branch" | "commit">): string {
  return policy.commit ? `${policy.branch} at ${policy.commit.slice(0, 7)}` : policy.branch;
}

/** True when the default branch's config has errors: nothing deploys until they are fixed. */
export function policyBroken(policy: Policy): boolean {
  return policy.problems.some((p) => p.severity === "error");
}

/** The rules in `config` (read from `branch` at `commit`). */
export function policyFromConfig(
  config: RepoConfig,
  source: { branch: string; commit?: string },
  problems: Problem[] = [],
): Policy {
  const environments = new Map<string, EnvironmentRules>();
  const names = new Set([DEFAULT_ENVIRONMENT, ...Object.keys(config.environments)]);
  for (const name of names) {
    const declared = config.environments[name];
    const rules = declared ?? EnvironmentSchema.parse({});
    environments.set(name, { ...rules, name, reach: reachOf(config, name) });
  }
  const defaultEnvironment = config.defaults.environment ?? DEFAULT_ENVIRONMENT;
  return {
    branch: source.branch,
    ...(source.commit ? { commit: source.commit } : {}),
    environments,
    problems,
    stackEnvironments: new Map(config.stacks.map((s) => [s.name, s.environment ?? defaultEnvironment])),
    defaultEnvironment,
    procedures: new Map(Object.entries(config.procedures)),
    stackLabels: new Map(config.stacks.flatMap((s) => (s.labels ? [[s.name, s.labels] as const] : []))),
    stackDrift: new Map(config.stacks.flatMap((s) => (s.drift === undefined ? [] : [[s.name, s.drift]]))),
  };
}

/** The environment a stack belongs to on the default branch (commands on deployed stacks use it). */
export function stackEnvironment(policy: Policy, stack: string): string {
  return policy.stackEnvironments.get(stack) ?? policy.defaultEnvironment;
}

function reachOf(config: RepoConfig, env: string): HostSelector[] {
  const out: HostSelector[] = [...(config.environments[env]?.hosts ?? []), ...(config.defaults.hosts ?? [])];
  for (const entry of config.stacks) {
    const entryEnv = entry.environment ?? config.defaults.environment ?? DEFAULT_ENVIRONMENT;
    if (entryEnv === env) out.push(...(entry.hosts ?? []));
  }
  const seen = new Set<string>();
  return out.filter((s) => {
    const key = JSON.stringify(s);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/**
 * Environments whose rules differ between the config of the change (`head`) and the policy: a
 * pull request changing them is told they apply after merge.
 */
export function changedRules(head: RepoConfig, policy: Policy): string[] {
  const mine = policyFromConfig(head, { branch: "head" });
  const names = new Set([...mine.environments.keys(), ...policy.environments.keys()]);
  const changed: string[] = [];
  for (const name of [...names].sort()) {
    const a = mine.environments.get(name);
    const b = policy.environments.get(name);
    if (JSON.stringify(comparable(a)) !== JSON.stringify(comparable(b))) changed.push(name);
  }
  return changed;
}

function comparable(rules: EnvironmentRules | undefined): unknown {
  if (!rules) return undefined;
  const { name: _name, ...rest } = rules;
  return Object.fromEntries(Object.entries(rest).sort(([a], [b]) => (a < b ? -1 : 1)));
}
