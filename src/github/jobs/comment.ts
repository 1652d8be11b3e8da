/**
 * A PR comment: the command it holds, acknowledged, run, and answered.
 */
import { errorText } from "../../deploy/hostDeploy.ts";
import { codeSpan, escapeMarkdown } from "../../plan/render/escape.ts";
import { rowsWithin } from "../../plan/render/markdown.ts";
import { react } from "../api/reactions.ts";
import { HELP_TEXT, type ParsedCommand, parseCommands } from "../commands.ts";
import type { GithubJob } from "../events.ts";
import { deployFromPullRequest } from "./deployCommand.ts";
import type { JobContext } from "./jobContext.ts";
import { isPermanent, shortReason } from "./jobErrors.ts";
import { planPullRequest } from "./planPr.ts";
import { powerFromPullRequest, runFromPullRequest } from "./procedureCommands.ts";
import { reply, STATUS_LIMIT } from "./replies.ts";
import { rollbackFromPullRequest } from "./rollbackCommand.ts";
import { unlockFromPullRequest } from "./unlockCommand.ts";

/** A PR comment: 1. find the command, 2. acknowledge with 👀, 3. run it, 4. 🚀 or 😕 and a reply. */
export async function onComment(
  ctx: JobContext,
  job: Extract<GithubJob, { kind: "comment" }>,
): Promise<void> {
  const [command] = parseCommands(job.body, ctx.deps.appSlug);
  if (!command) return;
  if (job.actor.type === "Bot" && !(ctx.deps.botAllowlist ?? []).includes(job.actor.login)) return;
  const reactTo = (content: "eyes" | "rocket" | "confused") =>
    react(ctx.octokit, { owner: ctx.owner, repo: ctx.repo, comment_id: job.commentId, content });
  await reactTo("eyes");
  let ok = true;
  try {
    ok = await runCommand(ctx, job.pr, job.actor, command);
  } catch (err) {
    // A command is not retried behind the user's back: say why it failed, and whether trying
    // again can help; the whole error goes to the operator's log.
    ok = false;
    const permanent = isPermanent(err);
    ctx.log.error(
      `/${command.kind} on ${ctx.ref.fullName}#${job.pr} failed (delivery ${ctx.delivery}): ${errorText(err)}`,
    );
    await reply(
      ctx,
      job.pr,
      `Stackpilot could not run \`${command.kind}\`: ${escapeMarkdown(shortReason(err, ctx.delivery))}${permanent ? "" : "\n\nThis looks temporary: comment the command again to retry."}`,
    );
  }
  await reactTo(ok ? "rocket" : "confused");
}

async function runCommand(
  ctx: JobContext,
  pr: number,
  actor: { login: string; type: string },
  command: ParsedCommand,
): Promise<boolean> {
  switch (command.kind) {
    case "plan":
      await planPullRequest(ctx, pr);
      return true;
    case "help":
      await reply(ctx, pr, HELP_TEXT);
      return true;
    case "unknown":
      await reply(ctx, pr, `Unknown command ${codeSpan(command.name, { max: 100 })}.\n\n${HELP_TEXT}`);
      return false;
    case "invalid":
      await reply(ctx, pr, command.error);
      return false;
    case "status":
      await reply(ctx, pr, await statusText(ctx));
      return true;
    case "deploy":
      return deployFromPullRequest(ctx, pr, actor, command);
    case "rollback":
      return rollbackFromPullRequest(ctx, pr, actor, command);
    case "unlock":
      return unlockFromPullRequest(ctx, pr, actor, command);
    case "run":
      return runFromPullRequest(ctx, pr, actor, command);
    case "stop":
    case "start":
      return powerFromPullRequest(ctx, pr, actor, command);
  }
}

/** `/status`: what is deployed where, within a comment's size (a big repository has thousands of rows). */
async function statusText(ctx: JobContext): Promise<string> {
  const deployed = await ctx.deps.store.getDeployed(ctx.ref.fullName);
  if (deployed.length === 0) return "Nothing from this repository is deployed yet.";
  const rows = deployed.map(
    (d) =>
      `| ${codeSpan(d.stack, { inTable: true })} | ${codeSpan(d.host, { inTable: true })} | \`${d.commit.slice(0, 7)}\` | ${d.pinned ? "📌 pinned" : ""} | ${d.deployedAt.toISOString()} |`,
  );
  return rowsWithin("| Stack | Host | Commit | | Deployed at |\n|---|---|---|---|---|\n", rows, STATUS_LIMIT);
}
