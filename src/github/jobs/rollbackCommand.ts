/**
 * `/rollback`: a stack re-activated at a retained release, where the rules allow it.
 */

import { rollbackHost } from "../../deploy/rollbackHost.ts";
import { rollbackEvent } from "../../notify/events.ts";
import { codeSpan, escapeMarkdown } from "../../plan/render/escape.ts";
import type { RollbackOutcome } from "../api/prComment.ts";
import type { ParsedCommand } from "../commands.ts";
import { deployedTargetsOrReply } from "./commandTargets.ts";
import type { JobContext } from "./jobContext.ts";
import { type Actor, mayActOn } from "./permissions.ts";
import { reply, showResults } from "./replies.ts";

/**
 * `/rollback STACK [--to SHA] [--host GLOB]`: allowed as `/deploy` is in the stack's environment
 * (the default branch's rules); pins the stack where it rolls back.
 */
export async function rollbackFromPullRequest(
  ctx: JobContext,
  prNumber: number,
  actor: Actor,
  command: Extract<ParsedCommand, { kind: "rollback" }>,
): Promise<boolean> {
  if (!(await mayActOn(ctx, prNumber, actor, "rollback", command.stack))) return false;
  const targets = await deployedTargetsOrReply(ctx, prNumber, command);
  if (!targets) return false;
  const lines: string[] = [];
  const hosts: RollbackOutcome[] = [];
  let ok = true;
  for (const d of targets) {
    const config = ctx.deps.hosts.find((h) => h.name === d.host);
    if (!config) continue;
    const r = await rollbackHost({
      store: ctx.deps.store,
      remote: ctx.deps.remote,
      host: config,
      repo: ctx.ref.fullName,
      stack: d.stack,
      deployed: d,
      ...(command.to ? { to: command.to } : {}),
      actor: actor.login,
      engine: { ...ctx.deps.engine, lockOwner: ctx.deps.installationId },
    });
    ctx.deps.notifier?.emit(
      rollbackEvent({ repo: ctx.ref.fullName, stack: d.stack, host: d.host }, actor.login, r),
    );
    if (r.ok) {
      lines.push(
        `- ${codeSpan(d.host)}: \`${r.from?.slice(0, 7) ?? "none"}\` → \`${r.to.slice(0, 7)}\` (pinned until the next explicit deploy)`,
      );
      hosts.push({ host: d.host, ...(r.from ? { from: r.from } : {}), to: r.to });
    } else {
      ok = false;
      lines.push(
        `- ${codeSpan(d.host)}: failed: ${escapeMarkdown(r.error.split("\n").at(-1)?.slice(0, 300) ?? "")}`,
      );
      hosts.push({ host: d.host, from: d.commit, error: r.error });
    }
  }
  const shown = hosts.length
    ? await showResults(ctx, prNumber, {
        kind: "rollback",
        stack: command.stack,
        actor: actor.login,
        at: new Date(),
        hosts,
      })
    : "";
  await reply(ctx, prNumber, `Rollback of ${codeSpan(command.stack)}:\n\n${lines.join("\n")}${shown}`);
  return ok;
}
