/**
 * Repositories whose files appear inside the one planned ("mounts"): its git submodules, pinned by
 * commit in its tree (and theirs, with `submodules: recursive`), and the `sources:` of its config,
 * named by a ref. Resolving them is I/O: reading `.gitmodules` and the config at a commit, and
 * asking a MountOpener (mountOpeners.ts: the App's mirrors, or a checkout's own git data) for each
 * repository. The result is plain data: the planner reads trees and blobs through it
 * (detect/mounted*.ts), the deployer archives from it (deploy/upload.ts).
 */
import { loadRepoConfig, unsafePathReason } from "../config/repoConfig.ts";
import { CONFIG_PATH, type RepoConfig, type SourceConfig, sourcePath } from "../config/repoConfigSchema.ts";
import { EMPTY_TREE, type GitRepo, MODE_SUBMODULE, type Tree } from "./repo.ts";

export type MountKind = "submodule" | "source";

/** A repository at a commit whose files appear at `path`. */
export interface Mount {
  kind: MountKind;
  /** The submodule's name in `.gitmodules`, or the source's name. */
  name: string;
  /** Repo-relative path where its files appear (`vendor/tools`; nested: `vendor/tools/lib/x`). */
  path: string;
  /** Where it comes from, for people: the submodule's URL, the source's repository. */
  repository: string;
  /** The git directory holding its commits (a mirror, `.git/modules/<name>`, a local clone). */
  gitDir: string;
  commit: string;
  /** A source's ref as configured (absent: its default branch). */
  ref?: string;
}

/** A mount that could not be made: its files are not there, and a stack using them is broken. */
export interface MountFailure {
  kind: MountKind;
  name: string;
  path: string;
  repository: string;
  /** The commit a submodule points at. */
  commit?: string;
  message: string;
  /** The source's path holds files of the repository itself: an error of the config's `path`. */
  collision?: boolean;
}

export interface MountSet {
  /** Sorted by path; a nested submodule comes after the one holding it. */
  mounts: Mount[];
  failures: MountFailure[];
}

export const emptyMounts = (): MountSet => ({ mounts: [], failures: [] });

/** Why a repository cannot be mounted, in words for the plan; trying again the same way cannot help. */
export class MountUnavailable extends Error {
  override name = "MountUnavailable";
}

export interface SubmoduleRef {
  name: string;
  /** Repo-relative path in the planned repository. */
  path: string;
  /** As written in `.gitmodules`. */
  url: string;
  commit: string;
  /** The repository whose tree pins it, and its URL (relative URLs are resolved against it). */
  parent: { repo: GitRepo; url: string | undefined };
  /** The top-level submodule holding it (its own path when it is one), for the command that fetches it. */
  top: string;
}

/** Opens the repositories of mounts; throws MountUnavailable for one that cannot be read. */
export interface MountOpener {
  /** The repository of a submodule, holding `commit`; `url` is its own, for its submodules' relative URLs. */
  submodule(sub: SubmoduleRef): Promise<{ repo: GitRepo; url: string | undefined; repository: string }>;
  /** A source's repository and the commit its ref names now (or `pinned`, when given and present). */
  source(
    name: string,
    source: SourceConfig,
    pinned?: string,
  ): Promise<{ repo: GitRepo; commit: string; repository: string }>;
}

/** Nesting and count bounds: a repository's submodules are input from outside too. */
export const MOUNT_LIMITS = { depth: 8, mounts: 100 };

export interface ResolveOptions {
  /** The planned repository's URL, for relative submodule URLs. */
  url?: string | undefined;
  /** Source name -> commit to use instead of resolving its ref (what an earlier plan read). */
  pinned?: ReadonlyMap<string, string>;
}

/** The mounts of `commit`: its submodules (as its config's `submodules` says) and its sources. */
export async function resolveMounts(
  repo: GitRepo,
  commit: string,
  opener: MountOpener,
  opts: ResolveOptions = {},
): Promise<MountSet> {
  const set = emptyMounts();
  if (commit === EMPTY_TREE) return set;
  const facts = await commitFacts(repo, commit);
  // An invalid config deploys nothing and plans no stack: nothing to mount.
  if (!facts.config) return set;
  const mode = facts.config.submodules;
  if (mode !== "off") {
    const walk: SubmoduleWalk = { set, opener, recursive: mode === "recursive" };
    await mountSubmodules(walk, facts, repo, opts.url, "", 0);
  }
  // After the submodules: a source inside one of them is refused.
  await Promise.all(
    Object.entries(facts.config.sources).map(([name, source]) =>
      mountSource(set, opener, facts, name, source, opts.pinned?.get(name)),
    ),
  );
  set.mounts.sort(byPath);
  set.failures.sort(byPath);
  return set;
}

/** What a walk over submodules adds to, and whether it descends into their own submodules. */
interface SubmoduleWalk {
  set: MountSet;
  opener: MountOpener;
  recursive: boolean;
}

/** The submodules `at` (the facts of `parent`'s commit) pins, below `prefix`, and theirs when recursive. */
async function mountSubmodules(
  walk: SubmoduleWalk,
  at: Facts,
  parent: GitRepo,
  parentUrl: string | undefined,
  prefix: string,
  depth: number,
): Promise<void> {
  await Promise.all(at.submodules.map((sub) => mountSubmodule(walk, sub, parent, parentUrl, prefix, depth)));
}

/** One submodule: a mount, or a failure that says why not; then its own submodules when recursive. */
async function mountSubmodule(
  walk: SubmoduleWalk,
  sub: Facts["submodules"][number],
  parent: GitRepo,
  parentUrl: string | undefined,
  prefix: string,
  depth: number,
): Promise<void> {
  const { set, opener } = walk;
  const path = `${prefix}${sub.path}`;
  const failed = (message: string) => {
    set.failures.push({
      kind: "submodule",
      name: sub.name,
      path,
      repository: sub.url,
      commit: sub.commit,
      message,
    });
  };
  if (sub.problem) return failed(sub.problem);
  if (set.mounts.length + set.failures.length >= MOUNT_LIMITS.mounts)
    return failed(`more than ${MOUNT_LIMITS.mounts} submodules and sources: not read`);
  try {
    const opened = await opener.submodule({
      name: sub.name,
      path,
      url: sub.url,
      commit: sub.commit,
      parent: { repo: parent, url: parentUrl },
      top: prefix === "" ? path : topOf(prefix),
    });
    set.mounts.push({
      kind: "submodule",
      name: sub.name,
      path,
      repository: opened.repository,
      gitDir: opened.repo.dir,
      commit: sub.commit,
    });
    if (!walk.recursive) return;
    if (depth + 1 >= MOUNT_LIMITS.depth) return;
    const inner = await commitFacts(opened.repo, sub.commit, false);
    await mountSubmodules(walk, inner, opened.repo, opened.url, `${path}/`, depth + 1);
  } catch (err) {
    if (!(err instanceof MountUnavailable)) throw err;
    failed(err.message);
  }
}

/** A source at its path, unless the repository's own files or a submodule are there. */
async function mountSource(
  set: MountSet,
  opener: MountOpener,
  facts: Facts,
  name: string,
  source: SourceConfig,
  pinned: string | undefined,
): Promise<void> {
  const path = sourcePath(name, source);
  const base = { kind: "source" as const, name, path, repository: source.repository };
  const collision = facts.collisions.get(name);
  if (collision) {
    set.failures.push({ ...base, message: collision, collision: true });
    return;
  }
  const inSubmodule = set.mounts.find((m) => path === m.path || path.startsWith(`${m.path}/`));
  if (inSubmodule) {
    set.failures.push({
      ...base,
      message: `source path "${path}" is inside submodule ${inSubmodule.path}: give the source a directory of its own`,
      collision: true,
    });
    return;
  }
  try {
    const opened = await opener.source(name, source, pinned);
    set.mounts.push({
      ...base,
      repository: opened.repository,
      gitDir: opened.repo.dir,
      commit: opened.commit,
      ...(source.ref ? { ref: source.ref } : {}),
    });
  } catch (err) {
    if (!(err instanceof MountUnavailable)) throw err;
    set.failures.push({ ...base, message: err.message });
  }
}

/** By path, comparing UTF-16 code units (no locale). */
export const byPath = (a: { path: string }, b: { path: string }) =>
  a.path < b.path ? -1 : a.path > b.path ? 1 : 0;

const topOf = (prefix: string) => prefix.slice(0, prefix.indexOf("/")) || prefix;

/** What one commit says about its mounts: pure git data, so memoized per (repository, commit). */
interface Facts {
  /** The config at the commit; undefined when it has errors (only at the top level). */
  config: RepoConfig | undefined;
  submodules: { name: string; path: string; url: string; commit: string; problem?: string }[];
  /** Source name -> why its path cannot hold it (files of the repository are there). */
  collisions: Map<string, string>;
}

const factsMemo = new Map<string, Facts>();
const MAX_FACTS = 256;

async function commitFacts(repo: GitRepo, commit: string, top = true): Promise<Facts> {
  const key = `${repo.dir}\0${commit}\0${top}`;
  const hit = factsMemo.get(key);
  if (hit) return hit;
  const facts = await readFacts(repo, commit, top);
  if (factsMemo.size >= MAX_FACTS) factsMemo.delete(factsMemo.keys().next().value as string);
  factsMemo.set(key, facts);
  return facts;
}

async function readFacts(repo: GitRepo, commit: string, top: boolean): Promise<Facts> {
  const wanted = top ? [CONFIG_PATH, ".gitmodules"] : [".gitmodules"];
  const found = await repo.entries(commit, wanted);
  const configEntry = top ? found.get(CONFIG_PATH) : undefined;
  const { blobs } = configEntry
    ? await repo.readBlobsWithin([configEntry.oid], 1024 * 1024)
    : { blobs: new Map<string, Buffer>() };
  const loaded = loadRepoConfig(configEntry ? blobs.get(configEntry.oid)?.toString("utf8") : undefined);
  const config = loaded.problems.some((p) => p.severity === "error") ? undefined : loaded.config;
  if (top && !config) return { config: undefined, submodules: [], collisions: new Map() };

  const modules = found.get(".gitmodules");
  const declared = modules ? declaredSubmodules(await repo.configBlob(modules.oid)) : [];
  const sources = Object.entries(config?.sources ?? {}).map(
    ([name, s]) => [name, sourcePath(name, s)] as const,
  );
  const probe = new Set<string>();
  for (const d of declared) if (!d.problem) probe.add(d.path);
  for (const [, path] of sources) for (const p of withAncestors(path)) probe.add(p);
  const entries: Tree = await repo.entries(commit, [...probe]);

  const submodules: Facts["submodules"] = [];
  for (const d of declared) {
    const entry = d.problem ? undefined : entries.get(d.path);
    // Declared without a gitlink in the tree: git has nothing to check out there either.
    if (!d.problem && entry?.mode !== MODE_SUBMODULE) continue;
    submodules.push({ ...d, commit: entry?.oid ?? "" });
  }
  const collisions = new Map<string, string>();
  for (const [name, path] of sources) {
    const ancestors = withAncestors(path);
    const here = entries.get(path);
    const blocking = ancestors.slice(0, -1).find((a) => {
      const e = entries.get(a);
      return e !== undefined && e.mode !== "040000";
    });
    if (here)
      collisions.set(
        name,
        `source path "${path}" collides with ${here.mode === "040000" ? "a directory" : "a file"} of this repository at ${path}`,
      );
    else if (blocking)
      collisions.set(name, `source path "${path}" is inside ${blocking}, which is not a directory`);
  }
  return { config, submodules, collisions };
}

/** `a/b/c` -> `a`, `a/b`, `a/b/c`. */
function withAncestors(path: string): string[] {
  const parts = path.split("/");
  return parts.map((_, i) => parts.slice(0, i + 1).join("/"));
}

/** `submodule.<name>.path` / `.url` pairs of a `.gitmodules` (names may hold dots). */
function declaredSubmodules(
  pairs: readonly [string, string][],
): { name: string; path: string; url: string; problem?: string }[] {
  const byName = new Map<string, { path?: string; url?: string }>();
  for (const [key, value] of pairs) {
    const m = /^submodule\.(.+)\.(path|url)$/.exec(key);
    if (!m) continue;
    const [, name, field] = m as unknown as [string, string, "path" | "url"];
    const rec = byName.get(name) ?? {};
    rec[field] = value;
    byName.set(name, rec);
  }
  const out: { name: string; path: string; url: string; problem?: string }[] = [];
  for (const [name, { path, url }] of byName) {
    if (path === undefined) continue;
    const clean = path.replace(/\/+$/, "");
    const why = unsafePathReason(clean);
    const reserved = clean === CONFIG_PATH || clean === ".github" || clean.startsWith(".github/");
    const problem = !url
      ? `submodule ${clean} has no url in .gitmodules`
      : why
        ? `submodule ${name}: ${why}`
        : reserved
          ? `submodule ${clean} is inside .github, which Stackpilot reads from this repository only`
          : undefined;
    out.push({ name, path: clean, url: url ?? "", ...(problem ? { problem } : {}) });
  }
  return out;
}

/** Mount sets compare equal when they mount the same commits at the same paths and fail alike. */
export function mountKey(set: MountSet): string {
  if (set.mounts.length === 0 && set.failures.length === 0) return "";
  return JSON.stringify([
    set.mounts.map((m) => [m.kind, m.path, m.gitDir, m.commit]),
    set.failures.map((f) => [f.kind, f.path, f.commit ?? "", f.message]),
  ]);
}
