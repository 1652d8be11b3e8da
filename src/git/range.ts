/**
 * Which two commits to compare. A push names `before` and `after`, but `before` may be all zeros
 * (first push of a branch), may no longer exist, or may not be an ancestor (force push).
 */
import { EMPTY_TREE, type GitRepo, ZERO_SHA } from "./repo.ts";

export interface CommitRange {
  /** A commit SHA, or EMPTY_TREE when there is nothing to compare with. */
  base: string;
  head: string;
  /** Why the base is not the one asked for, for the plan's reasons. */
  note?: string;
}

export class RevisionError extends Error {
  override name = "RevisionError";
}

export async function resolveRange(
  repo: GitRepo,
  opts: { base?: string; head: string; defaultBranch?: string },
): Promise<CommitRange> {
  const head = await repo.resolveCommit(opts.head);
  if (!head) throw new RevisionError(`unknown revision "${opts.head}"`);

  const fallback = async (why: string): Promise<CommitRange> => {
    const mb = opts.defaultBranch ? await repo.mergeBase(head, opts.defaultBranch) : undefined;
    if (mb && mb !== head)
      return { base: mb, head, note: `${why}; compared with the merge base with ${opts.defaultBranch}` };
    return { base: EMPTY_TREE, head, note: `${why}; every file counts as added` };
  };

  if (!opts.base || ZERO_SHA.test(opts.base)) return fallback("first push of this branch");
  const base = await repo.resolveCommit(opts.base);
  if (!base) return fallback(`base ${opts.base} is not in the repository`);
  if (base === head || (await repo.isAncestor(base, head))) return { base, head };
  const mb = await repo.mergeBase(base, head);
  if (mb)
    return {
      base: mb,
      head,
      note: `${short(base)} is not an ancestor of ${short(head)} (force push); compared with their merge base ${short(mb)}`,
    };
  return {
    base: EMPTY_TREE,
    head,
    note: `${short(base)} and ${short(head)} share no history; every file counts as added`,
  };
}

export const short = (sha: string) => sha.slice(0, 7);
