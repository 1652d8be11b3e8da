/**
 * Which two commits to compare. A push names `before` and `after`, but `before` may be all zeros
 * (first push of a branch), may no longer exist, or may not be an ancestor (force push).
 */
import { EMPTY_TREE, type GitRepo, ZERO_SHA } from "./repo.ts";
import { FULL_SHA } from "./sha.ts";

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

/**
 * Merge bases of commit pairs already asked for. Commits never change, so neither does the merge
 * base of two of them: planning a range again (a retried job, a re-requested check) spawns no
 * `git merge-base`. Only found merge bases are kept; bounded, least recently used out first.
 */
export class MergeBaseMemo {
  readonly #map = new Map<string, string>();
  readonly #max: number;

  constructor(max = 256) {
    this.#max = max;
  }

  async of(repo: GitRepo, a: string, b: string): Promise<string | undefined> {
    const key = `${a} ${b}`;
    const hit = this.#map.get(key);
    if (hit) {
      this.#map.delete(key);
      this.#map.set(key, hit);
      return hit;
    }
    const mb = await repo.mergeBase(a, b);
    if (mb) {
      this.#map.set(key, mb);
      if (this.#map.size > this.#max) this.#map.delete(this.#map.keys().next().value as string);
    }
    return mb;
  }
}

/**
 * @param known commits known to exist here (e.g. cached snapshots): a full SHA among them is taken
 * as is, without asking git.
 * @param memo merge bases asked for before.
 */
export async function resolveRange(
  repo: GitRepo,
  opts: { base?: string; head: string; defaultBranch?: string },
  known: (sha: string) => boolean = () => false,
  memo?: MergeBaseMemo,
): Promise<CommitRange> {
  const resolve = (ref: string): Promise<string | undefined> =>
    FULL_SHA.test(ref) && ref !== EMPTY_TREE && known(ref) ? Promise.resolve(ref) : repo.resolveCommit(ref);
  const wantBase = !!opts.base && !ZERO_SHA.test(opts.base);
  // Independent lookups run in parallel.
  const [head, base] = await Promise.all([
    resolve(opts.head),
    wantBase ? resolve(opts.base as string) : Promise.resolve(undefined),
  ]);
  if (!head) throw new RevisionError(`unknown revision "${opts.head}"`);

  const fallback = async (why: string): Promise<CommitRange> => {
    const mb = opts.defaultBranch ? await repo.mergeBase(head, opts.defaultBranch) : undefined;
    if (mb && mb !== head)
      return { base: mb, head, note: `${why}; compared with the merge base with ${opts.defaultBranch}` };
    return { base: EMPTY_TREE, head, note: `${why}; every file counts as added` };
  };

  if (!wantBase) return fallback("first push of this branch");
  if (!base) return fallback(`base ${opts.base} is not in the repository`);
  if (base === head) return { base, head };
  // One merge-base answers both "is base an ancestor of head" and "what is their merge base".
  const mb = memo ? await memo.of(repo, base, head) : await repo.mergeBase(base, head);
  if (mb === base) return { base, head };
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
