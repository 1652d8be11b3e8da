/**
 * The worker: runs the jobs webhooks queued, one module per job kind (push.ts, comment.ts and the
 * commands it runs); each reads like the steps it takes. Deploys go through rollout.ts, plans
 * through planPr.ts. Failures are classified and reported here (jobErrors.ts).
 */

import type { Probot } from "probot";
import { errorText } from "../../deploy/hostDeploy.ts";
import { escapeMarkdown } from "../../plan/render/escape.ts";
import type { GithubJob, RepoRef } from "../events.ts";
import { PLAN_CHECK_NAME } from "../render/checkRun.ts";
import { onComment } from "./comment.ts";
import { deployFromPullRequest } from "./deployCommand.ts";
import type { JobContext, Octokit, WorkerDeps } from "./jobContext.ts";
import { isPermanent, shortReason } from "./jobErrors.ts";
import { RETRY_LIMIT } from "./jobQueue.ts";
import { planPullRequest } from "./planPr.ts";
import { onPush, onSourcePush } from "./push.ts";
import { reply } from "./replies.ts";

/** A queued job's delivery and attempt (0 for the first run). */
export interface JobMeta {
  deliveryId: string;
  attempt: number;
}

/**
 * The job handler: runs a job, and when it fails, logs the whole error at error level and decides:
 * a permanent error (see jobErrors.ts) is reported to the user at once and not retried; a transient
 * one is thrown for the queue to retry, and reported only when no attempt is left.
 */
export function createWorker(
  deps: WorkerDeps,
  app: Pick<Probot, "auth" | "log">,
  opts: { retryLimit?: number } = {},
) {
  return async (job: GithubJob, meta: JobMeta = { deliveryId: "-", attempt: 0 }): Promise<void> => {
    let ctx: JobContext | undefined;
    try {
      const octokit = (await app.auth(job.repo.installationId)) as Octokit;
      ctx = {
        deps,
        octokit,
        ref: job.repo,
        owner: job.repo.owner,
        repo: job.repo.name,
        delivery: meta.deliveryId,
        log: { info: (m) => app.log.info(m), warn: (m) => app.log.warn(m), error: (m) => app.log.error(m) },
      };
      await runJob(ctx, job);
    } catch (err) {
      const permanent = isPermanent(err);
      const last = permanent || meta.attempt >= (opts.retryLimit ?? RETRY_LIMIT);
      app.log.error(
        { err, delivery: meta.deliveryId, attempt: meta.attempt, job: job.kind, repo: job.repo.fullName },
        `${job.kind} job of ${job.repo.fullName} failed (${permanent ? "permanent: not retried" : last ? "no attempt left" : "will be retried"}): ${errorText(err)}`,
      );
      if (last && ctx) {
        const reason = shortReason(err, meta.deliveryId);
        await reportFailure(ctx, job, reason).catch((e: unknown) =>
          app.log.error(`could not report the failure of delivery ${meta.deliveryId}: ${errorText(e)}`),
        );
      }
      if (!permanent) throw err;
    }
  };
}

/** Tells the user a job failed for good: a failing plan check run on its commit, or a PR reply. */
async function reportFailure(ctx: JobContext, job: GithubJob, reason: string): Promise<void> {
  const sha = job.kind === "push" ? job.after : job.kind === "plan-pr" ? job.headSha : undefined;
  if (sha) {
    await ctx.octokit.rest.checks.create({
      owner: ctx.owner,
      repo: ctx.repo,
      name: PLAN_CHECK_NAME,
      head_sha: sha,
      status: "completed",
      conclusion: "failure",
      output: { title: "Stackpilot could not plan this commit", summary: reason },
    });
    return;
  }
  if (job.kind === "comment" || job.kind === "deploy-button")
    await reply(ctx, job.pr, `Stackpilot could not run your command: ${escapeMarkdown(reason)}`);
}

async function runJob(ctx: JobContext, job: GithubJob): Promise<void> {
  switch (job.kind) {
    case "plan-pr":
      await planPullRequest(ctx, job.pr);
      return;
    case "push":
      await onPush(ctx, job);
      return;
    case "source-push":
      await onSourcePush(ctx, job);
      return;
    case "comment":
      await onComment(ctx, job);
      return;
    case "deploy-button":
      await deployFromPullRequest(ctx, job.pr, job.actor, {
        kind: "deploy",
        stacks: [],
        force: false,
        line: 0,
        via: "slash",
      });
      return;
  }
}

export type { RepoRef };
