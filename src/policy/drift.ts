/**
 * Drift settings are rules: healing deploys, so whether and how often Stackpilot checks and heals
 * a stack is read from the default branch's config (a Policy), never from a change. Pure.
 */
import type { DriftSettings } from "../config/repoConfigSchema.ts";
import { type Policy, policyBroken, stackEnvironment } from "./policy.ts";

/**
 * A stack's drift settings: its own entry's `drift`, else its environment's; undefined when
 * neither sets one (or the stack's sets `false`), and when the default branch's config has
 * errors (nothing is decided from a broken config).
 */
export function driftSettingsOf(policy: Policy, stack: string): DriftSettings | undefined {
  if (policyBroken(policy)) return undefined;
  const own = policy.stackDrift.get(stack);
  const drift = own ?? policy.environments.get(stackEnvironment(policy, stack))?.drift;
  return drift === false ? undefined : drift;
}
