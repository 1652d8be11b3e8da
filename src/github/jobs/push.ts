/**
 * A push: plan it, deploy the environments the default branch's rules deploy on merge, and show
 * a PR's merge deploy in that PR's comment.
 */
import { errorText } from "../../deploy/hostDeploy.ts";
import type { EnvironmentOutcome } from "../api/prComment.ts";
import type { GithubJob } from "../events.ts";
import { fromHostJobResult, PLAN_CHECK_NAME, planCheckRun } from "../render/checkRun.ts";
import { type JobContext, mirrorAt, planJob } from "./jobContext.ts";
import { startPushProcedures } from "./procedureStart.ts";
import { showResults } from "./replies.ts";
import { environmentsToDeploy, rollout } from "./rollout.ts";

/**
 * A push: 1. plan it against the previous commit (check run on the new head), 2. unless a newer
 * commit already moved the branch on, deploy every environment whose `deploy_on` is `merge`
 * and whose branch this is, by the default branch's rules, 3. when the push is a PR's merge, show the results in that PR's
 * Stackpilot comment, where its plan was read.
 */
export async function onPush(ctx: JobContext, job: Extract<GithubJob, { kind: "push" }>): Promise<void> {
  const repo = await mirrorAt(ctx, [`refs/heads/${job.branch}`, `refs/heads/${job.repo.defaultBranch}`]);
  const { plan, head, images, policy } = await planJob(ctx, repo, {
    base: job.before,
    head: job.after,
    defaultBranch: job.repo.defaultBranch,
  });
  const check = planCheckRun(plan, { headSha: job.after, name: PLAN_CHECK_NAME });
  await ctx.octokit.rest.checks.create({ owner: ctx.owner, repo: ctx.repo, ...check.params });
  // Procedures with `on: push` (default branch only), queued as runs of their own.
  await startPushProcedures(ctx, policy, job);
  // A broken stack's targets are skips: the others deploy, unless the config itself is broken.
  if (!plan.deployable) return;
  const tip = await repo.resolveCommit(`refs/heads/${job.branch}`);
  if (tip && tip !== job.after) {
    ctx.log.info(
      `${job.repo.fullName}@${job.branch}: ${job.after.slice(0, 7)} superseded by ${tip.slice(0, 7)}; not deploying it`,
    );
    return;
  }
  const actor = job.pusher ?? "merge";
  const outcomes: EnvironmentOutcome[] = [];
  for (const env of environmentsToDeploy(plan)) {
    // The default branch's rules say which branch deploys where on push, never the pushed commit's.
    const config = policy.environments.get(env);
    if (config?.deploy_on !== "merge" || (config.branch ?? job.repo.defaultBranch) !== job.branch) continue;
    const results = await rollout(ctx, {
      plan,
      head,
      images,
      repo,
      environment: env,
      trigger: "merge",
      actor,
      ...(config.url ? { environmentUrl: config.url } : {}),
    });
    outcomes.push({ name: env, results: results.map(fromHostJobResult) });
  }
  if (outcomes.length === 0) return;
  const pr = await mergedPullRequest(ctx, job.after, job.branch);
  if (pr !== undefined)
    await showResults(ctx, pr, {
      kind: "deploy",
      trigger: "merge",
      sha: job.after,
      actor,
      at: new Date(),
      environments: outcomes,
    });
}

/**
 * The PR whose merge made `sha` the tip of `branch`: merged into that branch with `sha` as its
 * merge commit (merge, squash and rebase merges all set it). A direct push has none; an open PR
 * that merely contains the commit is not it. A lookup failure is logged: the deploy has run.
 */
async function mergedPullRequest(ctx: JobContext, sha: string, branch: string): Promise<number | undefined> {
  try {
    const { data } = await ctx.octokit.rest.repos.listPullRequestsAssociatedWithCommit({
      owner: ctx.owner,
      repo: ctx.repo,
      commit_sha: sha,
    });
    return data.find((p) => p.merged_at && p.merge_commit_sha === sha && p.base.ref === branch)?.number;
  } catch (err) {
    ctx.log.warn(`could not find the pull request merged as ${sha.slice(0, 7)}: ${errorText(err)}`);
    return undefined;
  }
}
