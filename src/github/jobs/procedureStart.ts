/**
 * Runs started from GitHub work: a push to the default branch starts the procedures that say
 * `on: push` (and refreshes the repository's schedules); `/run NAME` starts one from a PR.
 */
import type { Policy } from "../../policy/policy.ts";
import { policyBroken } from "../../policy/policy.ts";
import type { NewRun, RunRepoRef } from "../../state/procedureRuns.ts";
import type { GithubJob } from "../events.ts";
import type { JobContext } from "./jobContext.ts";
import { registerSchedules } from "./procedureRun.ts";

export function repoRefOf(ctx: JobContext): RunRepoRef {
  return { ...ctx.ref };
}

/** Creates and queues a run; its id. */
export async function queueRun(ctx: JobContext, input: Omit<NewRun, "repo" | "repoRef">): Promise<number> {
  const queue = ctx.deps.procedureQueue;
  if (!queue) throw new Error("this Stackpilot has no procedure queue");
  const { id } = await ctx.deps.store.procedures.createRun({
    ...input,
    repo: ctx.ref.fullName,
    repoRef: repoRefOf(ctx),
  });
  try {
    await queue.send(id);
  } catch (err) {
    await ctx.deps.store.procedures.deleteRun(id).catch(() => {});
    throw err;
  }
  return id;
}

export async function startPushProcedures(
  ctx: JobContext,
  policy: Policy,
  job: Extract<GithubJob, { kind: "push" }>,
): Promise<number[]> {
  if (job.branch !== job.repo.defaultBranch || policyBroken(policy) || !ctx.deps.procedureQueue) return [];
  await registerSchedules(ctx.deps.store, repoRefOf(ctx), policy);
  const ids: number[] = [];
  for (const [name, p] of policy.procedures) {
    if (!p.on?.includes("push")) continue;
    ids.push(
      await queueRun(ctx, {
        branch: job.branch,
        procedure: name,
        source: "push",
        actor: job.pusher ?? "push",
        base: /^0+$/.test(job.before) ? null : job.before,
        head: job.after,
      }),
    );
  }
  return ids;
}
