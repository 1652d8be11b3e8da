/**
 * `/unlock`: the database locks of a stack freed, where the rules allow it.
 */
import { codeSpan } from "../../plan/render/escape.ts";
import { compileGlob } from "../../util/glob.ts";
import type { ParsedCommand } from "../commands.ts";
import type { JobContext } from "./jobContext.ts";
import { type Actor, mayActOn } from "./permissions.ts";
import { reply } from "./replies.ts";

/**
 * `/unlock STACK [--host GLOB]`: allowed as `/deploy` is in the stack's environment; frees the
 * database locks of a stack (a deploy holding one stops before its next step; see hostDeploy.ts).
 */
export async function unlockFromPullRequest(
  ctx: JobContext,
  prNumber: number,
  actor: Actor,
  command: Extract<ParsedCommand, { kind: "unlock" }>,
): Promise<boolean> {
  if (!(await mayActOn(ctx, prNumber, actor, "unlock", command.stack))) return false;
  const hostOk = command.host ? compileGlob(command.host) : () => true;
  const freed: string[] = [];
  for (const h of ctx.deps.hosts.filter((x) => hostOk(x.name))) {
    const target = { repo: ctx.ref.fullName, stack: command.stack, host: h.name };
    if (await ctx.deps.store.unlockTarget(target, `@${actor.login} with /unlock`)) freed.push(h.name);
  }
  await reply(
    ctx,
    prNumber,
    freed.length
      ? `Unlocked ${codeSpan(command.stack)} on ${freed.map((h) => codeSpan(h)).join(", ")}.`
      : `${codeSpan(command.stack)} held no lock${command.host ? " on matching hosts" : ""}.`,
  );
  return true;
}
