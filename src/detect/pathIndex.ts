/** Sorted paths of one tree, for fast "everything under this directory" and glob queries. */
import type { Tree } from "../git/repo.ts";
import { compileGlob, type GlobMatcher, scanGlob } from "../util/glob.ts";

export class PathIndex {
  readonly paths: string[];
  readonly tree: Tree;

  constructor(tree: Tree, sortedPaths?: string[]) {
    this.tree = tree;
    this.paths = sortedPaths ?? [...tree.keys()].sort();
  }

  /**
   * The index of `tree`, which is this index's tree plus the `added` paths and minus the `removed`
   * ones: one merge of sorted lists instead of sorting every path again.
   */
  withChanges(tree: Tree, added: readonly string[], removed: readonly string[]): PathIndex {
    if (added.length === 0 && removed.length === 0) return new PathIndex(tree, this.paths);
    const gone = new Set(removed);
    const add = [...added].sort();
    const out: string[] = [];
    let j = 0;
    for (const p of this.paths) {
      while (j < add.length && (add[j] as string) < p) out.push(add[j++] as string);
      if (!gone.has(p)) out.push(p);
    }
    while (j < add.length) out.push(add[j++] as string);
    return new PathIndex(tree, out);
  }

  /** Paths strictly below `dir` (`""` means the whole repo). */
  under(dir: string): string[] {
    if (dir === "" || dir === ".") return this.paths;
    const prefix = `${dir}/`;
    const out: string[] = [];
    for (let i = lowerBound(this.paths, prefix); i < this.paths.length; i++) {
      const p = this.paths[i] as string;
      if (!p.startsWith(prefix)) break;
      out.push(p);
    }
    return out;
  }

  /** A path is a file (blob, symlink or submodule), a directory (has paths below it), or absent. */
  kind(path: string): "file" | "dir" | "absent" {
    if (this.tree.has(path)) return "file";
    const prefix = `${path}/`;
    const i = lowerBound(this.paths, prefix);
    return this.paths[i]?.startsWith(prefix) ? "dir" : "absent";
  }

  /** Paths matching a glob; scans only below the glob's literal base directory. */
  glob(pattern: string): string[] {
    const { base, isMatch } = watchGlob(pattern);
    return this.under(base).filter((p) => isMatch(p));
  }
}

/** `path` lies strictly below `dir` (`""` and `.` hold every path), as {@link PathIndex.under} counts it. */
export function isBelow(path: string, dir: string): boolean {
  if (dir === "" || dir === ".") return true;
  return path.length > dir.length && path[dir.length] === "/" && path.startsWith(dir);
}

/** Whether {@link PathIndex.glob} of `pattern` would list `path`, for a path in the tree. */
export function globHas(pattern: string, path: string): boolean {
  const { base, isMatch } = watchGlob(pattern);
  return isBelow(path, base) && isMatch(path);
}

/** Compiled globs by pattern: a plan asks for the same few patterns once per stack and commit. */
const compiled = new Map<string, { base: string; isMatch: GlobMatcher }>();
const MAX_COMPILED = 1024;

function watchGlob(pattern: string): { base: string; isMatch: GlobMatcher } {
  let glob = compiled.get(pattern);
  if (!glob) {
    if (compiled.size >= MAX_COMPILED) compiled.clear();
    glob = { base: scanGlob(pattern).base, isMatch: compileGlob(pattern, { dot: true }) };
    compiled.set(pattern, glob);
  }
  return glob;
}

function lowerBound(sorted: readonly string[], key: string): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((sorted[mid] as string) < key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
