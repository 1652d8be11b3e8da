/**
 * Everything the planner needs to know about one commit: its config, its stacks, each stack's
 * inputs and fingerprint. The only I/O is reading blobs from git (compose and env files, symlink
 * targets), in batches; parsed compose files are cached by blob id and the variables they were
 * interpolated with, so a warm plan parses only what changed.
 */

import type { Problem } from "../config/problems.ts";
import { loadRepoConfig } from "../config/repoConfig.ts";
import { CONFIG_PATH, type RepoConfig } from "../config/repoConfigSchema.ts";
import type { YamlSource } from "../config/yamlSource.ts";
import type { Mount, MountSet } from "../git/mounts.ts";
import { MergeBaseMemo } from "../git/range.ts";
import type { Change, Tree, TreeEntry } from "../git/repo.ts";
import { BlobReader, DEFAULT_PARSE_LIMITS, type ParseLimits } from "./blobReader.ts";
import { type ComposeFileInfo, parseComposeFile } from "./compose.ts";
import type { ComposeEnv } from "./dotenv.ts";
import { fingerprint, type StackInputs } from "./inputs.ts";
import { type BlobSource, MountedTrees } from "./mounted.ts";
import { failedMountProblems, mountFailureNotes, mountsUsed } from "./mountUse.ts";
import { Owners } from "./owners.ts";
import { PathIndex } from "./pathIndex.ts";
import { affectedStacks } from "./snapshotAffected.ts";
import { collectAllInputs, collectCompose } from "./snapshotReads.ts";
import { resolveStacks, type StackDef } from "./stacks.ts";
import { TreeOverlay } from "./treeOverlay.ts";

export { DEFAULT_PARSE_LIMITS, type ParseLimits } from "./blobReader.ts";

export interface StackSnapshot {
  def: StackDef;
  inputs: StackInputs;
  compose: ComposeFileInfo;
  fingerprint: string;
  /**
   * This stack's problems: its definition's errors, then its compose project's (a problem in a
   * file two stacks read is both stacks'). Any error makes the stack broken: planned, never deployed.
   */
  problems: Problem[];
  /** The mounted repositories (submodules, sources) its input files lie in: a release takes them from there. */
  mounts?: Mount[];
}

/** The mounts a snapshot sees through, and the key its cache entry goes by (git/mounts.ts `mountKey`). */
export interface SnapshotView {
  mounts: MountSet;
  /** `<commit>` when nothing is mounted, else the commit plus a digest of the mounts. */
  key: string;
}

export interface Snapshot {
  /** Commit SHA, or the empty tree id. */
  commit: string;
  tree: Tree;
  config: RepoConfig;
  /** False when `.github/stackpilot.yml` is invalid: no stack can be known, nothing may deploy. */
  configValid: boolean;
  /** Problems of the config and of discovery, which belong to no one stack (see StackSnapshot.problems). */
  problems: Problem[];
  stacks: Map<string, StackSnapshot>;
  /** Set when repositories are mounted in it: the cache key (the commit alone does not say what it holds) and the mounts. */
  view?: SnapshotView;
}

const ENVS_PER_FILE = 8;

/** Bounded memo of parsed compose files, keyed by (blob id, path) and then the variables' key. */
export class ParseCache {
  readonly #compose = new Map<string, Map<string, ComposeFileInfo>>();
  readonly #max: number;
  hits = 0;
  misses = 0;

  /** Whole snapshots by commit, so a commit planned once (the last push's `after`) is not rebuilt. */
  readonly snapshots: SnapshotCache;
  /** Merge bases of ranges planned before. */
  readonly mergeBases = new MergeBaseMemo();
  /** Trees of mounted repositories by commit (submodules, sources). */
  readonly mounted = new MountedTrees();
  /**
   * Told the name of each stack before its compose files and inputs are worked out: a plan over
   * its time budget is named by the stack it was on (plan/planner.ts); it may also throw to stop.
   */
  progress: ((stack: string) => void) | undefined;

  constructor(max = 50_000, snapshots = 4) {
    this.#max = max;
    this.snapshots = new SnapshotCache(snapshots);
  }

  /** Whether the file is cached with these variables, or (without `env`) with any. */
  has(path: string, oid: string, env?: ComposeEnv): boolean {
    const byEnv = this.#compose.get(`${oid}\0${path}`);
    return byEnv !== undefined && (env === undefined || byEnv.has(env.key));
  }

  compose(path: string, oid: string, env: ComposeEnv, text: () => string): ComposeFileInfo {
    const key = `${oid}\0${path}`;
    let byEnv = this.#compose.get(key);
    const cached = byEnv?.get(env.key);
    if (cached) {
      this.hits++;
      return cached;
    }
    this.misses++;
    const info = parseComposeFile(path, text(), env);
    if (!byEnv) {
      if (this.#compose.size >= this.#max) this.#compose.delete(this.#compose.keys().next().value as string);
      byEnv = new Map();
      this.#compose.set(key, byEnv);
    }
    // One file is rarely interpolated with more than a few sets of variables at once.
    if (byEnv.size >= ENVS_PER_FILE) byEnv.delete(byEnv.keys().next().value as string);
    byEnv.set(env.key, info);
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

  /** Whether a snapshot of this commit (with whatever mounts) is cached: the commit exists. */
  has(commit: string): boolean {
    if (this.#map.has(commit)) return true;
    for (const snap of this.#map.values()) if (snap.commit === commit) return true;
    return false;
  }

  /** By commit, or by view key for a snapshot with mounts. */
  get(key: string): Snapshot | undefined {
    const snap = this.#map.get(key);
    if (!snap) {
      this.misses++;
      return undefined;
    }
    this.hits++;
    this.#map.delete(key);
    this.#map.set(key, snap);
    return snap;
  }

  set(snap: Snapshot): void {
    const key = snap.view?.key ?? snap.commit;
    this.#map.delete(key);
    this.#map.set(key, snap);
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
  view: SnapshotView | undefined;
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

export async function buildSnapshot(
  repo: BlobSource,
  commit: string,
  tree: Tree,
  cache: ParseCache,
  limits: ParseLimits = DEFAULT_PARSE_LIMITS,
  view?: SnapshotView,
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
    view,
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
  repo: BlobSource,
  from: Snapshot,
  commit: string,
  changes: readonly Change[],
  forward: boolean,
  cache: ParseCache,
  limits: ParseLimits = DEFAULT_PARSE_LIMITS,
  view?: SnapshotView,
): Promise<Snapshot> {
  const prev = metaOf.get(from);
  const tree = applyChanges(from.tree, changes, forward);
  const touched = new Set<string>();
  for (const c of changes) {
    touched.add(c.path);
    if (c.oldPath) touched.add(c.oldPath);
  }
  if (!prev || touched.has(CONFIG_PATH)) return buildSnapshot(repo, commit, tree, cache, limits, view);
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
    view,
  };
  const affected = affectedStacks(from.stacks, ownersOf(from), prev.reads, touched);
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
    return sealed({ commit, tree, config, configValid: false, problems, stacks: new Map() }, meta);
  }
  const { stacks: defs, problems: stackProblems } = resolveStacks(config, index, meta.source);
  problems.push(...stackProblems);

  const fromMeta = from ? metaOf.get(from) : undefined;
  const reused = new Map<string, StackSnapshot>();
  const todo = defs.filter((def) => {
    const old = reusable(def, from, affected);
    if (!old) return true;
    reused.set(def.name, old);
    meta.reads.set(def.name, fromMeta?.reads.get(def.name) ?? []);
    return false;
  });
  const composeOf = await collectCompose(reader, tree, cache, todo, meta.reads);
  const inputsOf = await collectAllInputs(reader, index, todo, composeOf);

  const stacks = new Map<string, StackSnapshot>();
  for (const def of defs) {
    const old = composeOf.has(def.name) ? undefined : reused.get(def.name);
    if (old) stacks.set(def.name, old);
    else {
      const compose = composeOf.get(def.name) as ComposeFileInfo;
      stacks.set(def.name, stackSnapshot(def, compose, inputsOf.get(def.name) as StackInputs));
    }
  }
  if (meta.view) seeThroughMounts(stacks, composeOf, meta.view.mounts, problems, meta.source);
  return sealed({ commit, tree, config, configValid: true, problems, stacks }, meta);
}

/** The stack of `from` that `def` takes as it is: one no changed path affects, defined alike. */
function reusable(
  def: StackDef,
  from: Snapshot | undefined,
  affected: Set<string> | undefined,
): StackSnapshot | undefined {
  if (!from || !affected || affected.has(def.name)) return undefined;
  const old = from.stacks.get(def.name);
  return old && JSON.stringify(old.def) === JSON.stringify(def) ? old : undefined;
}

function stackSnapshot(def: StackDef, compose: ComposeFileInfo, inputs: StackInputs): StackSnapshot {
  // A stack's problems are its own: its definition's, its compose project's, its inputs'.
  const problems = [...(def.errors ?? []), ...compose.problems, ...inputs.problems];
  return { def, inputs, compose, fingerprint: fingerprint(def, inputs), problems };
}

/** `snap` with its view, remembered with what it was built from (for deriving the next one). */
function sealed(snap: Snapshot, meta: SnapshotMeta): Snapshot {
  if (meta.view) snap.view = meta.view;
  metaOf.set(snap, meta);
  return snap;
}

/**
 * Each stack's mounts (the repositories its files come from), and for stacks computed now their
 * errors for inputs inside failed mounts; the snapshot notes every failed mount once.
 */
function seeThroughMounts(
  stacks: Map<string, StackSnapshot>,
  computed: ReadonlyMap<string, ComposeFileInfo>,
  set: MountSet,
  problems: Problem[],
  source: YamlSource | undefined,
): void {
  if (set.mounts.length === 0 && set.failures.length === 0) return;
  const idOf = (ms: readonly Mount[] | undefined) => (ms ?? []).map((m) => `${m.path}@${m.commit}`).join(" ");
  for (const [name, s] of stacks) {
    const used = mountsUsed(s.inputs, set.mounts);
    const fresh = computed.has(name);
    if (!fresh && idOf(used) === idOf(s.mounts)) continue;
    const next: StackSnapshot = { ...s };
    if (used.length > 0) next.mounts = used;
    else delete next.mounts;
    if (fresh)
      next.problems = [...s.problems, ...failedMountProblems(name, s.compose, s.inputs, set.failures)];
    stacks.set(name, next);
  }
  problems.push(...mountFailureNotes(set.failures, source));
}
