/**
 * The mirror a procedure run reads, up to date for the run's branch and the default branch (whose
 * tip holds the rules). A `git fetch` is the largest part of a run's start (a few git processes
 * and a round trip to GitHub's git server), and most triggers find the mirror already current: so
 * GitHub's API is asked for both branch tips first (one request each, in parallel), and when the
 * mirror's own refs already point at exactly those commits, the fetch is skipped. That is the
 * state a fetch would have produced, so the rules are still those of the default branch at its
 * current commit. Anything else (a tip moved, a ref or the API unavailable, a `/run` from a pull
 * request) fetches as before.
 */
import type { GitRepo } from "../../git/repo.ts";
import { FULL_SHA as SHA } from "../../git/sha.ts";
import { installationToken, type JobContext, mirrorAt } from "./jobContext.ts";

export interface RunCheckout {
  repo: GitRepo;
  /** The commit each of the asked branches points at in the mirror (after a fetch if needed). */
  tips: Map<string, string>;
}

/** What a checkout needs from the App: GitHub's view of the branch tips, and the mirror. */
export interface CheckoutIo {
  /** The branches' tips as GitHub has them now; undefined when that cannot be had. */
  remoteTips(branches: readonly string[]): Promise<Map<string, string> | undefined>;
  /** The mirror holding these commit ids (fetched only if one is missing). */
  ensureCommits(ids: readonly string[]): Promise<GitRepo>;
  /** The mirror fetched for these refs. */
  fetch(refs: readonly string[]): Promise<GitRepo>;
}

/**
 * @param branches branch names whose tips the run reads
 * @param extraRefs commit ids the run needs too (the pushed head), or refs outside the branches
 *   (`refs/pull/N/head`, which always fetch)
 */
export async function checkout(
  io: CheckoutIo,
  branches: readonly string[],
  extraRefs: readonly string[] = [],
): Promise<RunCheckout> {
  const wanted = [...new Set(branches)];
  const remote = extraRefs.every((r) => SHA.test(r)) ? await io.remoteTips(wanted) : undefined;
  if (remote && wanted.every((b) => SHA.test(remote.get(b) ?? ""))) {
    const current = await io
      .ensureCommits([...new Set([...remote.values(), ...extraRefs])])
      .then(async (repo) => ({ repo, tips: await repo.branchTips(wanted) }))
      .catch(() => undefined);
    if (current && wanted.every((b) => current.tips.get(b) === remote.get(b))) return current;
  }
  // Commit ids are not fetched by name here: one the branches do not bring is the caller's to refuse.
  const repo = await io.fetch([
    ...wanted.map((b) => `refs/heads/${b}`),
    ...extraRefs.filter((r) => !SHA.test(r)),
  ]);
  return { repo, tips: await repo.branchTips(wanted) };
}

/** `checkout` for a job: GitHub's API through the job's Octokit, the App's mirror cache. */
export function runCheckout(
  ctx: JobContext,
  branches: readonly string[],
  extraRefs: readonly string[] = [],
): Promise<RunCheckout> {
  const source = { cloneUrl: ctx.ref.cloneUrl, fullName: ctx.ref.fullName };
  return checkout(
    {
      remoteTips: (wanted) => remoteTips(ctx, wanted),
      ensureCommits: async (ids) =>
        ctx.deps.mirrors.ensure(source, { token: await installationToken(ctx.octokit), refs: [...ids] }),
      fetch: (refs) => mirrorAt(ctx, [...refs]),
    },
    branches,
    extraRefs,
  );
}

/** The branches' tips as GitHub's API has them now; undefined when one cannot be had. */
async function remoteTips(
  ctx: JobContext,
  branches: readonly string[],
): Promise<Map<string, string> | undefined> {
  try {
    const shas = await Promise.all(
      branches.map(
        async (b) =>
          (await ctx.octokit.rest.git.getRef({ owner: ctx.owner, repo: ctx.repo, ref: `heads/${b}` })).data
            .object.sha,
      ),
    );
    return new Map(branches.map((b, i) => [b, shas[i] as string]));
  } catch {
    return undefined;
  }
}
