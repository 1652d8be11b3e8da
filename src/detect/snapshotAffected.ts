/**
 * The stacks of a snapshot that a change of some paths can alter, for deriving the snapshot of a
 * neighbouring commit from it (snapshot.ts `deriveSnapshot`): every other stack is shared as it is.
 */
import { compileGlob } from "../util/glob.ts";
import type { Owners } from "./owners.ts";
import type { StackSnapshot } from "./snapshot.ts";

/** Path -> names of the stacks it concerns. */
type ByPath = Map<string, string[]>;

/** The paths a stack's definition and compose project point at, indexed for looking up changed paths. */
interface Coverage {
  /** A stack's directory, referenced paths and symlink targets: a change at or below them counts. */
  byCover: ByPath;
  /** The directories above a referenced path or symlink target: one may become a symlink on their way. */
  byDescendant: ByPath;
  watchers: { name: string; match: (p: string) => boolean }[];
}

/**
 * Stacks of `stacks` whose inputs or compose collection a change of any `touched` path (added,
 * removed, modified, on either side) could alter: owners of the path, stacks that read it while
 * collecting compose files (`reads`, by stack), stacks whose directory, a referenced path or a
 * symlink's target covers it, stacks with such a path below it (it may become a symlink on their
 * way), and stacks whose watch globs match it.
 */
export function affectedStacks(
  stacks: ReadonlyMap<string, StackSnapshot>,
  owners: Owners,
  reads: ReadonlyMap<string, readonly string[]>,
  touched: ReadonlySet<string>,
): Set<string> {
  const byRead = readersOf(reads);
  const { byCover, byDescendant, watchers } = coverageOf(stacks);
  const affected = new Set<string>();
  const addAll = (names: readonly string[] | undefined) => {
    if (names) for (const n of names) affected.add(n);
  };
  for (const p of touched) {
    addAll(owners.get(p));
    addAll(byRead.get(p));
    addAll(byDescendant.get(p));
    for (let dir = p; ; ) {
      addAll(byCover.get(dir));
      const slash = dir.lastIndexOf("/");
      if (slash < 0) break;
      dir = dir.slice(0, slash);
    }
    addAll(byCover.get(""));
    addAll(byCover.get("."));
    for (const w of watchers) if (w.match(p)) affected.add(w.name);
  }
  return affected;
}

/** Path -> the stacks whose compose collection read it. */
function readersOf(reads: ReadonlyMap<string, readonly string[]>): ByPath {
  const byRead: ByPath = new Map();
  for (const [name, paths] of reads) for (const p of paths) addTo(byRead, p, name);
  return byRead;
}

function coverageOf(stacks: ReadonlyMap<string, StackSnapshot>): Coverage {
  const byCover: ByPath = new Map();
  const byDescendant: ByPath = new Map();
  const coverWithParents = (path: string, name: string) => {
    addTo(byCover, path, name);
    for (let slash = path.lastIndexOf("/"); slash > 0; slash = path.lastIndexOf("/", slash - 1)) {
      const dir = path.slice(0, slash);
      const list = byDescendant.get(dir);
      if (!list) byDescendant.set(dir, [name]);
      else if (list.at(-1) !== name) list.push(name);
    }
  };
  const watchers: Coverage["watchers"] = [];
  for (const [name, s] of stacks) {
    addTo(byCover, s.def.path, name);
    for (const ref of s.compose.refs) coverWithParents(ref.path, name);
    for (const target of s.inputs.links.values()) coverWithParents(target, name);
    if (s.def.watch.length > 0) watchers.push({ name, match: compileGlob(s.def.watch, { dot: true }) });
  }
  return { byCover, byDescendant, watchers };
}

function addTo(map: ByPath, path: string, name: string): void {
  const list = map.get(path);
  if (list) list.push(name);
  else map.set(path, [name]);
}
