/**
 * The planned repository as a deploy sees it: its own tree with each mounted repository's files
 * at the mount's path (a submodule's gitlink replaced by the tree of the commit it points at,
 * nested ones too; a source's files where its `path` says). Every stage after this one (inputs,
 * owners, fingerprints, changes) reads paths of this combined tree and never knows a file came
 * from another repository, so a stack's inputs can lie inside a submodule, its fingerprint covers
 * exactly the submodule files it uses, and a moved pointer changes only the stacks whose files
 * inside it changed, named file by file.
 *
 * Listings are by (git dir, commit), which never change, so a warm plan lists nothing again; a
 * range's changes are the planned repository's diff with each mount whose commit moved replaced by
 * the difference of its files.
 */
import { byPath, type Mount, type MountSet } from "../git/mounts.ts";
import {
  type Change,
  type ChangeStatus,
  GitRepo,
  MODE_SUBMODULE,
  MODE_SYMLINK,
  type Tree,
  type TreeEntry,
} from "../git/repo.ts";

const ABSENT_MODE = "000000";
const ABSENT_OID = "0".repeat(40);
const MAX_LISTINGS = 32;

/** Reads blobs by id: a repository, or several (MountedBlobs). */
export interface BlobSource {
  readBlobsWithin(
    oids: Iterable<string>,
    maxBytes: number,
  ): Promise<{ blobs: Map<string, Buffer>; tooLarge: Map<string, number> }>;
}

export class MountedTrees {
  readonly #listings = new Map<string, Promise<Tree>>();
  readonly #repos = new Map<string, GitRepo>();

  /** The repository of a git dir, one GitRepo per dir (each has its own process limit). */
  repoOf(gitDir: string): GitRepo {
    let repo = this.#repos.get(gitDir);
    if (!repo) {
      repo = new GitRepo(gitDir, { gitDir: true });
      this.#repos.set(gitDir, repo);
    }
    return repo;
  }

  /** The tree of a mount's commit in its own repository (paths relative to the mount). */
  listing(m: Pick<Mount, "gitDir" | "commit">): Promise<Tree> {
    const key = `${m.gitDir}\0${m.commit}`;
    let hit = this.#listings.get(key);
    if (hit) {
      this.#listings.delete(key);
    } else {
      hit = this.repoOf(m.gitDir).lsTree(m.commit);
      hit.catch(() => this.#listings.delete(key));
    }
    this.#listings.set(key, hit);
    if (this.#listings.size > MAX_LISTINGS)
      this.#listings.delete(this.#listings.keys().next().value as string);
    return hit;
  }

  /** The combined entries at and below a mount's path: its files, its nested mounts' files in place of their gitlinks. */
  async subtree(set: MountSet, path: string): Promise<Map<string, TreeEntry>> {
    const mount = set.mounts.find((m) => m.path === path);
    const out = new Map<string, TreeEntry>();
    if (!mount) return out;
    for (const [p, e] of await this.listing(mount)) out.set(`${path}/${p}`, e);
    for (const inner of directlyInside(set.mounts, path)) {
      out.delete(inner.path);
      for (const [p, e] of await this.subtree(set, inner.path)) out.set(p, e);
    }
    return out;
  }

  /** The planned repository's tree with every mount's files in place. */
  async tree(own: Tree, set: MountSet | undefined): Promise<Tree> {
    if (!set || set.mounts.length === 0) return own;
    const out = new Map(own);
    for (const top of directlyInside(set.mounts, "")) {
      out.delete(top.path);
      for (const [p, e] of await this.subtree(set, top.path)) out.set(p, e);
    }
    return out;
  }

  /**
   * The range's changes in the combined tree: the planned repository's own diff, with the paths of
   * every mount whose content differs between the ends (moved, added, removed, or become
   * unreadable) replaced by the difference of the files there.
   */
  async changes(
    own: readonly Change[],
    base: MountSet | undefined,
    head: MountSet | undefined,
  ): Promise<Change[]> {
    const b = base?.mounts ?? [];
    const h = head?.mounts ?? [];
    if (b.length === 0 && h.length === 0) return [...own];
    const regions = movedRegions(b, h);
    if (regions.length === 0) return [...own];
    const { kept: out, sides } = splitByRegion(own, regions);
    for (const r of regions) out.push(...(await this.#regionChanges(r, sideOf(sides, r), base, head)));
    return out.sort(byPath);
  }

  /** The difference of the files at a region between the ends: a mount's subtree, else the repository's own entries. */
  async #regionChanges(
    r: string,
    s: Side,
    base: MountSet | undefined,
    head: MountSet | undefined,
  ): Promise<Change[]> {
    const bm = base?.mounts.find((m) => m.path === r);
    const hm = head?.mounts.find((m) => m.path === r);
    // Without a change at the mount's path, the repository has there on both ends what it has
    // on the mounted end: the same gitlink for a submodule, nothing for a source.
    const implied = (m: Mount | undefined, into: Map<string, TreeEntry>) => {
      if (!s.touched && m?.kind === "submodule") into.set(r, { mode: MODE_SUBMODULE, oid: m.commit });
    };
    const old = bm ? await this.subtree(base as MountSet, r) : s.old;
    const now = hm ? await this.subtree(head as MountSet, r) : s.now;
    if (!bm) implied(hm, old);
    if (!hm) implied(bm, now);
    return diffEntries(old, now);
  }
}

/** Blobs of the planned repository and of its mounts: an id not in the first is looked for in the others. */
export class MountedBlobs implements BlobSource {
  readonly #own: BlobSource;
  readonly #others: GitRepo[];

  constructor(own: BlobSource, trees: MountedTrees, sets: readonly (MountSet | undefined)[]) {
    this.#own = own;
    const dirs = new Set<string>();
    for (const set of sets) for (const m of set?.mounts ?? []) dirs.add(m.gitDir);
    this.#others = [...dirs].map((d) => trees.repoOf(d));
  }

  async readBlobsWithin(oids: Iterable<string>, maxBytes: number) {
    const result = await this.#own.readBlobsWithin(oids, maxBytes);
    let missing = [...new Set(oids)].filter((o) => !result.blobs.has(o) && !result.tooLarge.has(o));
    for (const repo of this.#others) {
      if (missing.length === 0) break;
      const more = await repo.readBlobsWithin(missing, maxBytes);
      for (const [o, b] of more.blobs) result.blobs.set(o, b);
      for (const [o, n] of more.tooLarge) result.tooLarge.set(o, n);
      missing = missing.filter((o) => !more.blobs.has(o) && !more.tooLarge.has(o));
    }
    return result;
  }
}

/** Mounts whose nearest enclosing mount path is `path` (`""`: the top-level ones). */
function directlyInside(mounts: readonly Mount[], path: string): Mount[] {
  const prefix = path === "" ? "" : `${path}/`;
  const below = mounts.filter((m) => m.path.startsWith(prefix) && m.path !== path);
  return below.filter(
    (m) => !below.some((o) => o !== m && o.path !== m.path && m.path.startsWith(`${o.path}/`)),
  );
}

/** What is mounted at and below a path: equal keys, equal files. */
function subKey(mounts: readonly Mount[], path: string): string {
  return JSON.stringify(
    mounts
      .filter((m) => m.path === path || m.path.startsWith(`${path}/`))
      .map((m) => [m.path, m.gitDir, m.commit])
      .sort(),
  );
}

/** The planned repository's own changes inside one region (a top-level mount path), on each side. */
interface Side {
  old: Map<string, TreeEntry>;
  now: Map<string, TreeEntry>;
  /** Whether a change is at the mount's path itself (its gitlink, say). */
  touched: boolean;
}

/** Top-level mount paths whose mounted content differs between the ends (`subKey`). */
function movedRegions(b: readonly Mount[], h: readonly Mount[]): string[] {
  const tops = directlyInside([...b, ...h], "").map((m) => m.path);
  return [...new Set(tops)].filter((t) => subKey(b, t) !== subKey(h, t));
}

/**
 * The planned repository's own changes, those outside every region kept as they are (a rename
 * across a region's edge becomes a removal or addition on the outer side) and those inside
 * collected by region.
 */
function splitByRegion(
  own: readonly Change[],
  regions: readonly string[],
): { kept: Change[]; sides: Map<string, Side> } {
  const within = (path: string) => regions.find((r) => path === r || path.startsWith(`${r}/`));
  const kept: Change[] = [];
  const sides = new Map<string, Side>();
  for (const c of own) {
    const oldPath = c.oldPath ?? c.path;
    const oldIn = c.status === "A" || c.status === "C" ? undefined : within(oldPath);
    const newIn = c.status === "D" ? undefined : within(c.path);
    if (!oldIn && !newIn) {
      kept.push(c);
      continue;
    }
    if (c.status !== "A" && c.status !== "C") {
      if (oldIn) {
        sideOf(sides, oldIn).old.set(oldPath, { mode: c.oldMode, oid: c.oldOid });
        sideOf(sides, oldIn).touched ||= oldPath === oldIn;
      } else kept.push(removal(oldPath, c));
    }
    if (c.status !== "D") {
      if (newIn) {
        sideOf(sides, newIn).now.set(c.path, { mode: c.newMode, oid: c.newOid });
        sideOf(sides, newIn).touched ||= c.path === newIn;
      } else kept.push(addition(c.path, c));
    }
  }
  return { kept, sides };
}

function sideOf(sides: Map<string, Side>, r: string): Side {
  let s = sides.get(r);
  if (!s) {
    s = { old: new Map(), now: new Map(), touched: false };
    sides.set(r, s);
  }
  return s;
}

const kind = (mode: string) =>
  mode === MODE_SUBMODULE ? "gitlink" : mode === MODE_SYMLINK ? "link" : "file";

function diffEntries(old: ReadonlyMap<string, TreeEntry>, now: ReadonlyMap<string, TreeEntry>): Change[] {
  const out: Change[] = [];
  for (const [path, o] of old) {
    const n = now.get(path);
    if (!n) {
      out.push({
        status: "D",
        path,
        oldMode: o.mode,
        newMode: ABSENT_MODE,
        oldOid: o.oid,
        newOid: ABSENT_OID,
      });
    } else if (n.mode !== o.mode || n.oid !== o.oid) {
      const status: ChangeStatus = kind(n.mode) === kind(o.mode) ? "M" : "T";
      out.push({ status, path, oldMode: o.mode, newMode: n.mode, oldOid: o.oid, newOid: n.oid });
    }
  }
  for (const [path, n] of now)
    if (!old.has(path))
      out.push({
        status: "A",
        path,
        oldMode: ABSENT_MODE,
        newMode: n.mode,
        oldOid: ABSENT_OID,
        newOid: n.oid,
      });
  return out;
}

const removal = (path: string, c: Change): Change => ({
  status: "D",
  path,
  oldMode: c.oldMode,
  newMode: ABSENT_MODE,
  oldOid: c.oldOid,
  newOid: ABSENT_OID,
});

const addition = (path: string, c: Change): Change => ({
  status: "A",
  path,
  oldMode: ABSENT_MODE,
  newMode: c.newMode,
  oldOid: ABSENT_OID,
  newOid: c.newOid,
});
