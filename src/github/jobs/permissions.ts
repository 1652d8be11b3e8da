/**
 * The facts a PR command's authorization needs (the actor's permission and teams, the PR's
 * reviews), fetched from GitHub, and the decision under the default branch's rules (authorize.ts
 * decides; this module only gathers and cites the rule's source in a refusal).
 */

import { codeSpan, escapeMarkdown } from "../../plan/render/escape.ts";
import {
  type AuthorizeResult,
  authorizeDeploy,
  effectivePermission,
  type ReviewFact,
} from "../../policy/authorize.ts";
import { loadPolicy } from "../../policy/load.ts";
import { type EnvironmentRules, type Policy, policySource, stackEnvironment } from "../../policy/policy.ts";
import { type JobContext, mirrorAt, type Octokit } from "./jobContext.ts";
import type { PullRequestFacts } from "./planPr.ts";
import { readPullRequest } from "./planPr.ts";
import { reply } from "./replies.ts";

export interface Actor {
  login: string;
  type: string;
}

/** What is fetched once per command, whatever the environments involved. */
export interface CommandFacts {
  permission: ReturnType<typeof effectivePermission>;
  reviews: ReviewFact[];
}

export async function commandFacts(
  ctx: JobContext,
  pr: PullRequestFacts,
  actor: Actor,
): Promise<CommandFacts> {
  const { data: perm } = await ctx.octokit.rest.repos.getCollaboratorPermissionLevel({
    owner: ctx.owner,
    repo: ctx.repo,
    username: actor.login,
  });
  const reviews = (await ctx.octokit.paginate(ctx.octokit.rest.pulls.listReviews, {
    owner: ctx.owner,
    repo: ctx.repo,
    pull_number: pr.number,
    per_page: 100,
  })) as ReviewFact[];
  return { permission: effectivePermission(perm), reviews };
}

/**
 * May `actor` do `action` in `environment` from this PR? Decided by the environment's rules as the
 * default branch has them (never the PR's own config); an environment the default branch does not
 * define is refused. A refusal names the rules' source.
 */
export async function authorizeCommand(
  ctx: JobContext,
  input: {
    action: "deploy" | "rollback" | "unlock";
    actor: Actor;
    pr: PullRequestFacts;
    facts: CommandFacts;
    policy: Policy;
    environment: string;
    /** For deploy: the head SHA of the latest successful plan. */
    planSha?: string | undefined;
  },
): Promise<AuthorizeResult> {
  const source = policySource(input.policy);
  const rules: EnvironmentRules | undefined = input.policy.environments.get(input.environment);
  if (!rules)
    return {
      ok: false,
      reason: `environment ${input.environment} is not defined on the default branch (${source}): rules in a pull request apply after merge.`,
    };
  const verdict = authorizeDeploy({
    action: input.action,
    actor: input.actor,
    botAllowlist: ctx.deps.botAllowlist ?? [],
    permission: input.facts.permission,
    teams: await teamsOf(ctx.octokit, input.actor.login, rules.teams),
    environment: rules,
    pr: {
      headRepo: input.pr.headRepo,
      baseRepo: input.pr.baseRepo,
      reviews: input.facts.reviews,
      headSha: input.pr.headSha,
      planSha: input.planSha,
    },
  });
  return verdict.ok ? verdict : { ok: false, reason: `${verdict.reason} (rules of ${source})` };
}

/** The actor's memberships among the given `org/team` slugs (asked with the installation's token). */
export async function teamsOf(octokit: Octokit, login: string, teams: readonly string[]): Promise<string[]> {
  const member: string[] = [];
  for (const slug of teams) {
    const [org, team_slug] = slug.split("/") as [string, string];
    try {
      const { data } = await octokit.rest.teams.getMembershipForUserInOrg({
        org,
        team_slug,
        username: login,
      });
      if (data.state === "active") member.push(slug);
    } catch {
      // 404: not a member
    }
  }
  return member;
}

/**
 * May `actor` roll back or unlock `stack` from this PR? The stack's environment and its rules come
 * from the default branch; a refusal is replied with its reason.
 */
export async function mayActOn(
  ctx: JobContext,
  prNumber: number,
  actor: Actor,
  action: "rollback" | "unlock",
  stack: string,
): Promise<boolean> {
  const pr = await readPullRequest(ctx, prNumber);
  const policy = await defaultBranchPolicy(ctx);
  const environment = stackEnvironment(policy, stack);
  const facts = await commandFacts(ctx, pr, actor);
  const verdict = await authorizeCommand(ctx, { action, actor, pr, facts, policy, environment });
  if (verdict.ok) return true;
  await reply(
    ctx,
    prNumber,
    `${action === "rollback" ? "Rollback" : "Unlock"} of ${codeSpan(stack)} refused: ${escapeMarkdown(verdict.reason)}`,
  );
  return false;
}

async function defaultBranchPolicy(ctx: JobContext): Promise<Policy> {
  const repo = await mirrorAt(ctx, [`refs/heads/${ctx.ref.defaultBranch}`]);
  return loadPolicy(repo, ctx.ref.defaultBranch);
}
