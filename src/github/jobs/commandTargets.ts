/**
 * The deployed targets a PR command about one stack acts on (`/rollback`, `/stop`, `/start`):
 * its recorded targets, narrowed by `--host GLOB`; with none, the PR is told so.
 */
import { codeSpan } from "../../plan/render/escape.ts";
import type { DeployedState } from "../../state/deployed.ts";
import { compileGlob } from "../../util/glob.ts";
import type { JobContext } from "./jobContext.ts";
import { reply } from "./replies.ts";

export async function deployedTargetsOrReply(
  ctx: JobContext,
  prNumber: number,
  command: { stack: string; host?: string | undefined },
): Promise<DeployedState[] | undefined> {
  const hostOk = command.host ? compileGlob(command.host) : () => true;
  const targets = (await ctx.deps.store.getDeployed(ctx.ref.fullName)).filter(
    (d) => d.stack === command.stack && hostOk(d.host),
  );
  if (targets.length > 0) return targets;
  await reply(
    ctx,
    prNumber,
    `${codeSpan(command.stack)} is not deployed on any${command.host ? " matching" : ""} host.`,
  );
  return undefined;
}
