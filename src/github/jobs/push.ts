/**
 * A push: plan it, deploy the environments the default branch's rules deploy on merge, and show
 * a PR's merge deploy in that PR's comment. A push to a repository other repositories use as a
 * source plans and deploys each of them too (a job per repository, on its own rules).
 */
import { errorText } from "../../deploy/hostDeploy.ts";
import type { GitRepo } from "../../git/repo.ts";
import type { EnvironmentOutcome } from "../api/prComment.ts";
import type { GithubJob, RepoRef } from "../events.ts";
import { fromHostJobResult, PLAN_CHECK_NAME, planCheckRun } from "../render/checkRun.ts";
import { type JobContext, mirrorAt, type PlannedWithImages, planJob } from "./jobContext.ts";
import { startPushProcedures } from "./procedureStart.ts";
import { showResults } from "./replies.ts";
import { environmentsToDeploy, rollout } from "./rollout.ts";

type PushJob = Extract<GithubJob, { kind: "push" }>;
type SourcePushJob = Extract<GithubJob, { kind: "source-push" }>;

/**
 * A push: 1. queue a plan of every repository using this branch as a source, 2. plan the push
 * against the previous commit (check run on the new head), 3. unless a newer commit already moved
 * the branch on, deploy every environment whose `deploy_on` is `merge` and whose branch this is,
 * by the default branch's rules, 4. when the push is a PR's merge, show the results in that PR's
 * Stackpilot comment, where its plan was read.
 */
export async function onPush(ctx: JobContext, job: PushJob): Promise<void> {
  await queueDependents(ctx, job);
  const repo = await mirrorAt(ctx, [`refs/heads/${job.branch}`, `refs/heads/${job.repo.defaultBranch}`]);
  const actor = job.pusher ?? "merge";
  const outcomes = await planAndDeploy(ctx, repo, {
    base: job.before,
    head: job.after,
    branch: job.branch,
    actor,
    job,
  });
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
 * A push to a source this repository uses: its default branch's tip planned against itself, the
 * source as the last plan read it against the source now, deployed on the same rules as a push
 * to the default branch.
 */
export async function onSourcePush(ctx: JobContext, job: SourcePushJob): Promise<void> {
  const branch = ctx.ref.defaultBranch;
  const repo = await mirrorAt(ctx, [`refs/heads/${branch}`]);
  const tip = await repo.resolveCommit(`refs/heads/${branch}`);
  if (!tip) return;
  ctx.log.info(
    `${ctx.ref.fullName}: planning ${branch} at ${tip.slice(0, 7)} for a push to ${job.source}@${job.branch} (${job.sha.slice(0, 7)})`,
  );
  await planAndDeploy(ctx, repo, {
    base: tip,
    head: tip,
    branch,
    actor: job.pusher ?? `push to ${job.source}`,
  });
}

/**
 * Plan `base..head` of `branch` (check run on the head), record the sources a default-branch plan
 * read, and deploy what the default branch's rules deploy on merge for this branch.
 */
async function planAndDeploy(
  ctx: JobContext,
  repo: GitRepo,
  push: { base: string; head: string; branch: string; actor: string; job?: PushJob },
): Promise<EnvironmentOutcome[]> {
  const planned = await planJob(ctx, repo, {
    base: push.base,
    head: push.head,
    defaultBranch: ctx.ref.defaultBranch,
  });
  const { plan, head, images, policy } = planned;
  const check = planCheckRun(plan, { headSha: push.head, name: PLAN_CHECK_NAME });
  await ctx.octokit.rest.checks.create({ owner: ctx.owner, repo: ctx.repo, ...check.params });
  if (push.branch === ctx.ref.defaultBranch) await recordSources(ctx, planned);
  // Procedures with `on: push` (default branch only), queued as runs of their own.
  if (push.job) await startPushProcedures(ctx, policy, push.job);
  // A broken stack's targets are skips: the others deploy, unless the config itself is broken.
  if (!plan.deployable) return [];
  const tip = await repo.resolveCommit(`refs/heads/${push.branch}`);
  if (tip && tip !== push.head) {
    ctx.log.info(
      `${ctx.ref.fullName}@${push.branch}: ${push.head.slice(0, 7)} superseded by ${tip.slice(0, 7)}; not deploying it`,
    );
    return [];
  }
  const outcomes: EnvironmentOutcome[] = [];
  for (const env of environmentsToDeploy(plan)) {
    // The default branch's rules say which branch deploys where on push, never the pushed commit's.
    const config = policy.environments.get(env);
    if (config?.deploy_on !== "merge" || (config.branch ?? ctx.ref.defaultBranch) !== push.branch) continue;
    const results = await rollout(ctx, {
      plan,
      head,
      images,
      repo,
      environment: env,
      trigger: "merge",
      actor: push.actor,
      policy,
    });
    outcomes.push({ name: env, results: results.map(fromHostJobResult) });
  }
  return outcomes;
}

/** The default branch's sources as this plan read them: the index a source's push is looked up in. */
async function recordSources(ctx: JobContext, planned: PlannedWithImages): Promise<void> {
  const uses = planned.mounts.head.set.mounts
    .filter((m) => m.kind === "source")
    .map((m) => ({ name: m.name, sourceRepo: m.repository, ref: m.ref, commit: m.commit }));
  await ctx.deps.store.replaceSourceUses(
    {
      repo: ctx.ref.fullName,
      installationId: ctx.ref.installationId,
      cloneUrl: ctx.ref.cloneUrl,
      defaultBranch: ctx.ref.defaultBranch,
    },
    uses,
  );
}

/**
 * One job per repository using this branch of this repository as a source (state/sources.ts),
 * each with the using repository's own installation. Queued before this push's own plan, so a
 * failure there holds none of them up; a retried push queues each once (the delivery id).
 */
async function queueDependents(ctx: JobContext, job: PushJob): Promise<void> {
  const found = await ctx.deps.store.sourceDependents(
    job.repo.fullName,
    job.branch,
    job.branch === job.repo.defaultBranch,
  );
  const users = new Map(found.filter((d) => d.repo !== job.repo.fullName).map((d) => [d.repo, d]));
  if (users.size === 0) return;
  if (!ctx.deps.enqueue) {
    ctx.log.warn(
      `${job.repo.fullName} is a source of ${[...users.keys()].join(", ")}, but no queue is wired`,
    );
    return;
  }
  for (const user of users.values()) {
    const [owner = "", name = ""] = user.repo.split("/");
    const repo: RepoRef = {
      installationId: user.installationId,
      owner,
      name,
      fullName: user.repo,
      cloneUrl: user.cloneUrl,
      defaultBranch: user.defaultBranch,
    };
    try {
      await ctx.deps.enqueue(
        {
          kind: "source-push",
          repo,
          source: job.repo.fullName,
          branch: job.branch,
          sha: job.after,
          ...(job.pusher ? { pusher: job.pusher } : {}),
        },
        `${ctx.delivery}:source:${user.repo}`,
      );
    } catch (err) {
      // Queued by an earlier attempt of this push: once is enough.
      if (!/already queued/.test(errorText(err))) throw err;
    }
  }
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
