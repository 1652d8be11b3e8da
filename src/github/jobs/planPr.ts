/**
 * Plan a pull request: its head against the merge base with its base branch, with the stacks as
 * the head has them and the rules (environments, who, where) as the default branch has them,
 * reported as the `stackpilot/plan` check run and the plan section of the PR's one Stackpilot
 * comment (prComment.ts), edited in place.
 */

import { EMPTY_TREE, type GitRepo } from "../../git/repo.ts";
import type { ImagePlan } from "../../plan/images.ts";
import type { Plan } from "../../plan/plan.ts";
import type { DeploySnapshot } from "../../plan/planRequest.ts";
import type { Policy } from "../../policy/policy.ts";
import { showPlan } from "../api/prComment.ts";
import { PLAN_CHECK_NAME, planCheckRun } from "../render/checkRun.ts";
import { type JobContext, mirrorAt, planJob } from "./jobContext.ts";

export interface PullRequestFacts {
  number: number;
  headSha: string;
  baseRef: string;
  headRepo: string | null;
  baseRepo: string;
  author: string;
}

export interface PlannedPullRequest {
  pr: PullRequestFacts;
  plan: Plan;
  head: DeploySnapshot;
  repo: GitRepo;
  images: ImagePlan;
  /** The default branch's rules (environments, reach), which decide what the PR may deploy. */
  policy: Policy;
}

export async function readPullRequest(ctx: JobContext, number: number): Promise<PullRequestFacts> {
  const { data } = await ctx.octokit.rest.pulls.get({
    owner: ctx.owner,
    repo: ctx.repo,
    pull_number: number,
  });
  return {
    number,
    headSha: data.head.sha,
    baseRef: data.base.ref,
    headRepo: data.head.repo?.full_name ?? null,
    baseRepo: data.base.repo.full_name,
    author: data.user?.login ?? "",
  };
}

/** Plan the PR's current head; optionally restricted and forced (for `/deploy`). */
export async function planPullRequest(
  ctx: JobContext,
  number: number,
  opts: { report?: boolean; force?: boolean; only?: { stacks?: string[]; hosts?: string[] } } = {},
): Promise<PlannedPullRequest> {
  const pr = await readPullRequest(ctx, number);
  const repo = await mirrorAt(ctx, [
    `refs/pull/${number}/head`,
    `refs/heads/${pr.baseRef}`,
    `refs/heads/${ctx.ref.defaultBranch}`,
  ]);
  const baseTip = await repo.resolveCommit(`refs/heads/${pr.baseRef}`);
  const mergeBase = baseTip ? await repo.mergeBase(baseTip, pr.headSha) : undefined;
  const { plan, head, images, policy } = await planJob(ctx, repo, {
    base: mergeBase ?? EMPTY_TREE,
    head: pr.headSha,
    ...(opts.force ? { force: true } : {}),
    ...(opts.only ? { only: opts.only } : {}),
    // What each target would pull is read only when the plan is deployed.
    pulls: opts.report === false,
  });
  if (opts.report !== false) await reportPlan(ctx, pr, plan);
  return { pr, plan, head, repo, images, policy };
}

async function reportPlan(ctx: JobContext, pr: PullRequestFacts, plan: Plan): Promise<void> {
  const fromFork = pr.headRepo !== pr.baseRepo;
  const check = planCheckRun(plan, { headSha: pr.headSha, deployAction: !fromFork, name: PLAN_CHECK_NAME });
  const { data: run } = await ctx.octokit.rest.checks.create({
    owner: ctx.owner,
    repo: ctx.repo,
    ...check.params,
  });
  for (const followUp of check.followUps) {
    await ctx.octokit.rest.checks.update({
      owner: ctx.owner,
      repo: ctx.repo,
      check_run_id: run.id,
      ...followUp,
    });
  }
  await showPlan(ctx, pr.number, plan);
}

/** The head SHA of the latest successful plan for this commit, if the app made one. */
export async function plannedSha(ctx: JobContext, headSha: string): Promise<string | undefined> {
  const { data } = await ctx.octokit.rest.checks.listForRef({
    owner: ctx.owner,
    repo: ctx.repo,
    ref: headSha,
    check_name: PLAN_CHECK_NAME,
    filter: "latest",
  });
  const ok = data.check_runs.some(
    (r) => r.status === "completed" && r.conclusion === "success" && r.head_sha === headSha,
  );
  return ok ? headSha : undefined;
}
