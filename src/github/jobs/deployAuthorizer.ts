/**
 * May a PR command deploy the PR's head to an environment? Shared by `/deploy` (each environment
 * judged on its own) and `/run` (every environment its deploy steps reach): the same rules, from
 * the default branch, whichever command asks.
 */
import type { AuthorizeResult } from "../../policy/authorize.ts";
import type { Policy } from "../../policy/policy.ts";
import type { JobContext } from "./jobContext.ts";
import { type Actor, authorizeCommand, commandFacts } from "./permissions.ts";
import { type PullRequestFacts, plannedSha } from "./planPr.ts";

/** Judges a deploy in one environment at a time. */
export type DeployAuthorizer = (environment: string) => Promise<AuthorizeResult>;

/**
 * The actor's permission and the PR's reviews, and the head's latest successful plan, fetched
 * once: the environments are then judged without asking GitHub for them again.
 */
export async function deployAuthorizer(
  ctx: JobContext,
  pr: PullRequestFacts,
  actor: Actor,
  policy: Policy,
): Promise<DeployAuthorizer> {
  const facts = await commandFacts(ctx, pr, actor);
  const planSha = await plannedSha(ctx, pr.headSha);
  return (environment) =>
    authorizeCommand(ctx, { action: "deploy", actor, pr, facts, policy, environment, planSha });
}
