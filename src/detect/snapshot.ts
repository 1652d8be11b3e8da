/**
 * Everything the planner needs to know about one commit: its config, its stacks, each stack's
 * inputs and fingerprint. The only I/O is reading blobs from git; parsed compose files are cached
 * by blob id, so a warm plan parses only what changed.
 */

import type { Problem } from "../config/problems.ts";
import { loadRepoConfig } from "../config/repoConfig.ts";
import { CONFIG_PATH, type RepoConfig } from "../config/repoConfigSchema.ts";
import type { YamlSource } from "../config/yamlSource.ts";
import { MergeBaseMemo } from "../git/range.ts";
import type { Change, GitRepo, Tree, TreeEntry } from "../git/repo.ts";
import { compileGlob } from "../util/glob.ts";
import { BlobReader, DEFAULT_PARSE_LIMITS, type ParseLimits } from "./blobReader.ts";
import { type ComposeFileInfo, collectComposeInputs, parseComposeFile } from "./compose.ts";
import { collectInputs, fingerprint, type StackInputs } from "./inputs.ts";
import { Owners } from "./owners.ts";
import { PathIndex } from "./pathIndex.ts";
import { resolveStacks, type StackDef } from "./stacks.ts";
import { TreeOverlay } from "./treeOverlay.ts";

export { DEFAULT_PARSE_LIMITS, type ParseLimits } from "./blobReader.ts";

export interface StackSnapshot {
  def: StackDef;
  inputs: StackInputs;
  compose: ComposeFileInfo;
  fingerprint: string;
}

export interface Snapshot {
  /** Commit SHA, or the empty tree id. */
  commit: string;
  tree: Tree;
  config: RepoConfig;
  /** Config and compose problems; errors mean nothing may be deployed from this commit. */
  problems: Problem[];
  stacks: Map<string, StackSnapshot>;
}

/** Bounded memo of parsed compose files and blob texts, keyed by blob id. */
export class ParseCache {
  readonly #compose = new Map<string, ComposeFileInfo>();
  readonly #max: number;
  hits = 0;
  misses = 0;

  /** Whole snapshots by commit, so a commit planned once (the last push's `after`) is not rebuilt. */
  readonly snapshots: SnapshotCache;
  /** Merge bases of ranges planned before. */
  readonly mergeBases = new MergeBaseMemo();

  constructor(max = 50_000, snapshots = 4) {
    this.#max = max;
    this.snapshots = new SnapshotCache(snapshots);
  }

  has(path: string, oid: string): boolean {
    return this.#compose.has(`${oid}\0${path}`);
  }

  compose(path: string, oid: string, text: () => string): ComposeFileInfo {
    const key = `${oid}\0${path}`;
    const cached = this.#compose.get(key);
    if (cached) {
      this.hits++;
      return cached;
    }
    this.misses++;
    const info = parseComposeFile(path, text());
    if (this.#compose.size >= this.#max) this.#compose.delete(this.#compose.keys().next().value as string);
    this.#compose.set(key, info);
    return info;
  }
}

/** Bounded LRU of snapshots keyed by commit SHA (or the empty tree id). A commit's snapshot never changes. */
export class SnapshotCache {
  readonly #map = new Map<string, Snapshot>();
  readonly #max: number;
  hits = 0;
  misses = 0;

  constructor(max = 4) {
    this.#max = max;
  }

  has(commit: string): boolean {
    return this.#map.has(commit);
  }

  get(commit: string): Snapshot | undefined {
    const snap = this.#map.get(commit);
    if (!snap) {
      this.misses++;
      return undefined;
    }
    this.hits++;
    this.#map.delete(commit);
    this.#map.set(commit, snap);
    return snap;
  }

  set(snap: Snapshot): void {
    this.#map.delete(snap.commit);
    this.#map.set(snap.commit, snap);
    while (this.#map.size > this.#max) this.#map.delete(this.#map.keys().next().value as string);
  }

  get size(): number {
    return this.#map.size;
  }
}

/** What a snapshot was built from, kept beside it so the next commit's snapshot can be derived from it. */
interface SnapshotMeta {
  index: PathIndex;
  /** Problems of loading the config alone (before resolving stacks). */
  configProblems: Problem[];
  source: YamlSource | undefined;
  configFailed: boolean;
  /** Paths each stack's compose collection read (compose, included, extended files, .env). */
  reads: Map<string, string[]>;
}
const metaOf = new WeakMap<Snapshot, SnapshotMeta>();
const ownersMemo = new WeakMap<Snapshot, Owners>();

/** Input path -> names of the stacks owning it, built once per snapshot. */
export function ownersOf(snap: Snapshot): Owners {
  let owners = ownersMemo.get(snap);
  if (!owners) {
    owners = new Owners(snap.tree, snap.stacks);
    ownersMemo.set(snap, owners);
  }
  return owners;
}

const EMPTY_COMPOSE: ComposeFileInfo = { refs: [], services: [], absoluteMounts: [], problems: [] };

export async function buildSnapshot(
  repo: GitRepo,
  commit: string,
  tree: Tree,
  cache: ParseCache,
  limits: ParseLimits = DEFAULT_PARSE_LIMITS,
): Promise<Snapshot> {
  const reader = new BlobReader(repo, limits);
  const configEntry = tree.get(CONFIG_PATH);
  if (configEntry) await reader.read([configEntry.oid]);
  const oversize = configEntry && reader.oversize(CONFIG_PATH, configEntry.oid);
  const loaded = oversize
    ? { config: loadRepoConfig(undefined).config, problems: [oversize], source: undefined }
    : loadRepoConfig(configEntry ? reader.blobs.get(configEntry.oid) : undefined);
  const index = new PathIndex(tree);
  const configFailed = loaded.problems.some((p) => p.severity === "error");
  const meta: SnapshotMeta = {
    index,
    configProblems: loaded.problems,
    source: loaded.source,
    configFailed,
    reads: new Map(),
  };
  return assemble(reader, commit, loaded.config, meta, cache, undefined, undefined);
}

/**
 * The snapshot of `commit`, derived from the snapshot `from` of a neighbouring commit and the raw
 * diff between them (`forward`: `from` is the diff's base; otherwise its head). Only stacks a
 * changed path can affect are recomputed; the others are shared with `from`. Falls back to a full
 * build when `from` was not built here or the repo config changed. Equal to `buildSnapshot` of the
 * same commit (asserted by test/plan/incremental.property.test.ts).
 */
export async function deriveSnapshot(
  repo: GitRepo,
  from: Snapshot,
  commit: string,
  changes: readonly Change[],
  forward: boolean,
  cache: ParseCache,
  limits: ParseLimits = DEFAULT_PARSE_LIMITS,
): Promise<Snapshot> {
  const prev = metaOf.get(from);
  const tree = applyChanges(from.tree, changes, forward);
  const touched = new Set<string>();
  for (const c of changes) {
    touched.add(c.path);
    if (c.oldPath) touched.add(c.oldPath);
  }
  if (!prev || touched.has(CONFIG_PATH)) return buildSnapshot(repo, commit, tree, cache, limits);
  const added: string[] = [];
  const removed: string[] = [];
  for (const p of touched) {
    const now = tree.has(p);
    if (now !== from.tree.has(p)) (now ? added : removed).push(p);
  }
  const meta: SnapshotMeta = {
    index: prev.index.withChanges(tree, added, removed),
    configProblems: prev.configProblems,
    source: prev.source,
    configFailed: prev.configFailed,
    reads: new Map(),
  };
  const affected = affectedStacks(from, prev, touched);
  return assemble(new BlobReader(repo, limits), commit, from.config, meta, cache, from, affected);
}

/**
 * `tree` with a raw diff applied (forward) or undone (backward): an overlay of the changed paths
 * over `tree`, or a new map sharing the entries when `tree` is an overlay itself.
 */
function applyChanges(tree: Tree, changes: readonly Change[], forward: boolean): Tree {
  const flat = tree instanceof TreeOverlay;
  const out: Map<string, TreeEntry | null> = flat ? new Map(tree) : new Map();
  const remove = (path: string) => (flat ? out.delete(path) : out.set(path, null));
  for (const c of changes) {
    const oldPath = c.oldPath ?? c.path;
    if (forward) {
      if (c.status !== "A" && c.status !== "C") remove(oldPath);
      if (c.status !== "D") out.set(c.path, { mode: c.newMode, oid: c.newOid });
    } else {
      if (c.status !== "D") remove(c.path);
      if (c.status !== "A") out.set(oldPath, { mode: c.oldMode, oid: c.oldOid });
    }
  }
  return flat ? (out as Map<string, TreeEntry>) : new TreeOverlay(tree, out);
}

/**
 * Stacks of `snap` whose inputs or compose collection a change of any `touched` path (added,
 * removed, modified, on either side) could alter: owners of the path, stacks that read it while
 * collecting compose files, stacks whose directory or a referenced path covers it, and stacks
 * whose watch globs match it.
 */
function affectedStacks(snap: Snapshot, meta: SnapshotMeta, touched: Set<string>): Set<string> {
  const owners = ownersOf(snap);
  const byCover = new Map<string, string[]>();
  const cover = (path: string, name: string) => {
    const list = byCover.get(path);
    if (list) list.push(name);
    else byCover.set(path, [name]);
  };
  const byRead = new Map<string, string[]>();
  for (const [name, paths] of meta.reads) {
    for (const p of paths) {
      const list = byRead.get(p);
      if (list) list.push(name);
      else byRead.set(p, [name]);
    }
  }
  const watchers: { name: string; match: (p: string) => boolean }[] = [];
  for (const [name, s] of snap.stacks) {
    cover(s.def.path, name);
    for (const ref of s.compose.refs) cover(ref.path, name);
    if (s.def.watch.length > 0) watchers.push({ name, match: compileGlob(s.def.watch, { dot: true }) });
  }
  const affected = new Set<string>();
  const addAll = (names: readonly string[] | undefined) => {
    if (names) for (const n of names) affected.add(n);
  };
  for (const p of touched) {
    addAll(owners.get(p));
    addAll(byRead.get(p));
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

/**
 * Resolve stacks on `meta.index` and compute each one; stacks not in `affected` whose definition
 * equals their definition in `from` are taken from `from` as they are.
 */
async function assemble(
  reader: BlobReader,
  commit: string,
  config: RepoConfig,
  meta: SnapshotMeta,
  cache: ParseCache,
  from: Snapshot | undefined,
  affected: Set<string> | undefined,
): Promise<Snapshot> {
  const { index } = meta;
  const tree = index.tree;
  const problems = [...meta.configProblems];
  if (meta.configFailed) {
    const snap: Snapshot = { commit, tree, config, problems, stacks: new Map() };
    metaOf.set(snap, meta);
    return snap;
  }
  const { stacks: defs, problems: stackProblems } = resolveStacks(config, index, meta.source);
  problems.push(...stackProblems);

  const fromMeta = from ? metaOf.get(from) : undefined;
  const reuse = (def: StackDef): StackSnapshot | undefined => {
    if (!from || !affected || affected.has(def.name)) return undefined;
    const old = from.stacks.get(def.name);
    return old && JSON.stringify(old.def) === JSON.stringify(def) ? old : undefined;
  };

  // Compose files reach other compose files (include, extends): read, parse, and read again what
  // the parse asked for that was not read yet, until nothing new is asked for.
  const { blobs } = reader;
  const composeOf = new Map<string, ComposeFileInfo>();
  let pending = defs.filter((def) => {
    const old = reuse(def);
    if (!old) return true;
    meta.reads.set(def.name, fromMeta?.reads.get(def.name) ?? []);
    return false;
  });
  while (pending.length > 0) {
    const wanted = new Set<string>();
    const retry: StackDef[] = [];
    for (const def of pending) {
      let complete = true;
      const reads: string[] = [];
      // A file neither read nor parsed yet is asked for, and this stack retried in the next round.
      const known = (path: string, oid: string) =>
        blobs.has(oid) || reader.tooLarge.has(oid) || cache.has(path, oid);
      const read = (path: string): string | undefined => {
        reads.push(path);
        const entry = tree.get(path);
        if (!entry || reader.absent(entry.oid)) return undefined;
        if (!known(path, entry.oid)) {
          wanted.add(entry.oid);
          complete = false;
        }
        return blobs.get(entry.oid) ?? "";
      };
      const parse = (path: string, text: string): ComposeFileInfo => {
        const entry = tree.get(path);
        if (!entry) return parseComposeFile(path, text);
        const oversize = reader.oversize(path, entry.oid);
        if (oversize) return { ...EMPTY_COMPOSE, problems: [oversize] };
        if (!known(path, entry.oid)) return EMPTY_COMPOSE;
        return cache.compose(path, entry.oid, () => text);
      };
      const info = collectComposeInputs(def.composeFiles, read, parse);
      if (complete) {
        composeOf.set(def.name, info);
        meta.reads.set(def.name, reads);
      } else retry.push(def);
    }
    if (wanted.size === 0) break;
    await reader.read(wanted);
    pending = retry;
  }

  const stacks = new Map<string, StackSnapshot>();
  for (const def of defs) {
    const old = composeOf.has(def.name) ? undefined : reuse(def);
    if (old) {
      problems.push(...old.compose.problems);
      stacks.set(def.name, old);
      continue;
    }
    const compose = composeOf.get(def.name) as ComposeFileInfo;
    problems.push(...compose.problems);
    const inputs = collectInputs(def, compose, index);
    stacks.set(def.name, { def, inputs, compose, fingerprint: fingerprint(def, inputs) });
  }
  const snap: Snapshot = { commit, tree, config, problems, stacks };
  metaOf.set(snap, meta);
  return snap;
}
