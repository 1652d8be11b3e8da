/**
 * Answers on the PR: a reply comment, and a run's results in the Stackpilot comment.
 */
import { errorText } from "../../deploy/hostDeploy.ts";
import { GITHUB_TEXT_LIMIT } from "../../plan/render/markdown.ts";
import { hideOlderReplies, REPLY_MARKER } from "../api/olderReplies.ts";
import { type LastRun, showLastRun } from "../api/prComment.ts";
import type { JobContext } from "./jobContext.ts";

/**
 * Put a command's results into the PR's Stackpilot comment; returns a line for the reply that
 * links there. A failure to edit the comment is logged, not fatal: what ran has run.
 */
export async function showResults(ctx: JobContext, prNumber: number, run: LastRun): Promise<string> {
  try {
    const { comment } = await showLastRun(ctx, prNumber, run);
    return comment.html_url ? `\n\nPer stack and host: [the Stackpilot comment](${comment.html_url}).` : "";
  } catch (err) {
    ctx.log.warn(`could not show the ${run.kind} results in the PR comment: ${errorText(err)}`);
    return "";
  }
}

/** Characters of a reply listing rows: GitHub's comment limit, less room for the rest. */
export const STATUS_LIMIT = GITHUB_TEXT_LIMIT - 1_000;

/**
 * A reply on the PR, marked as one; Stackpilot's earlier replies there are then collapsed as
 * outdated (api/olderReplies.ts). Collapsing is tidying: a failure is logged, never fatal.
 */
export async function reply(ctx: JobContext, pr: number, body: string): Promise<void> {
  const { data } = await ctx.octokit.rest.issues.createComment({
    owner: ctx.owner,
    repo: ctx.repo,
    issue_number: pr,
    body: `${body}\n\n${REPLY_MARKER}`,
  });
  await hideOlderReplies(ctx.octokit, { owner: ctx.owner, repo: ctx.repo, number: pr }, data.node_id).catch(
    (err: unknown) => ctx.log.warn(`earlier replies on #${pr} not collapsed: ${errorText(err)}`),
  );
}
