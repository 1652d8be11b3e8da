/**
 * The mounts of both ends of a range (planRange.ts `PlanMounts`): the range resolved as planRange
 * resolves it, then each end's submodules and sources through a MountOpener (git/mountOpeners.ts).
 * I/O, made where repositories can be fetched (the App's job, with the installation token; the
 * CLI), never in the planner thread.
 */
import { type MountOpener, type MountSet, resolveMounts } from "../git/mounts.ts";
import { type MergeBaseMemo, resolveRange } from "../git/range.ts";
import type { GitRepo } from "../git/repo.ts";
import type { PlanMounts } from "./planRange.ts";

export interface PlanMountsOptions {
  /** The planned repository's URL (relative submodule URLs). */
  url?: string | undefined;
  /**
   * Source name -> the commit the base used (what the last plan of the default branch read). A
   * source without one is taken at the base as at the head: not changed in the range.
   */
  baseSources?: ReadonlyMap<string, string>;
  /** What planRange is given too (ParseCache): commits known to exist, merge bases asked before. */
  known?: (sha: string) => boolean;
  mergeBases?: MergeBaseMemo;
}

export async function resolvePlanMounts(
  repo: GitRepo,
  range: { base?: string; head: string; defaultBranch?: string },
  opener: MountOpener,
  opts: PlanMountsOptions = {},
): Promise<PlanMounts> {
  const resolved = await resolveRange(repo, range, opts.known, opts.mergeBases);
  const head = await resolveMounts(repo, resolved.head, opener, { url: opts.url });
  const pinned = new Map(sourceCommits(head));
  for (const [name, commit] of opts.baseSources ?? []) pinned.set(name, commit);
  const sameEnds = resolved.base === resolved.head && !changesSources(head, pinned);
  const base = sameEnds ? head : await resolveMounts(repo, resolved.base, opener, { url: opts.url, pinned });
  return { base: { commit: resolved.base, set: base }, head: { commit: resolved.head, set: head } };
}

/** Source name -> commit, of the sources mounted in a set. */
export function sourceCommits(set: MountSet): Map<string, string> {
  return new Map(set.mounts.filter((m) => m.kind === "source").map((m) => [m.name, m.commit]));
}

function changesSources(set: MountSet, pinned: ReadonlyMap<string, string>): boolean {
  return set.mounts.some((m) => m.kind === "source" && pinned.get(m.name) !== m.commit);
}
