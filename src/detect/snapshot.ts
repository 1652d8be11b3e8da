/**
 * Everything the planner needs to know about one commit: its config, its stacks, each stack's
 * inputs and fingerprint. The only I/O is reading blobs from git; parsed compose files are cached
 * by blob id, so a warm plan parses only what changed.
 */

import type { Problem } from "../config/problems.ts";
import { loadRepoConfig } from "../config/repoConfig.ts";
import { CONFIG_PATH, type RepoConfig } from "../config/repoConfigSchema.ts";
import type { GitRepo, Tree } from "../git/repo.ts";
import { type ComposeFileInfo, collectComposeInputs, parseComposeFile } from "./compose.ts";
import { collectInputs, fingerprint, type StackInputs } from "./inputs.ts";
import { PathIndex } from "./pathIndex.ts";
import { resolveStacks, type StackDef } from "./stacks.ts";

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

  constructor(max = 50_000) {
    this.#max = max;
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

const EMPTY_COMPOSE: ComposeFileInfo = { refs: [], services: [], absoluteMounts: [], problems: [] };

export async function buildSnapshot(
  repo: GitRepo,
  commit: string,
  tree: Tree,
  cache: ParseCache,
): Promise<Snapshot> {
  const blobs = new Map<string, string>();
  const asked = new Set<string>(); // blob ids already asked for: unreadable ones (submodules) count as absent
  const readBlobs = async (oids: Iterable<string>) => {
    const missing = [...oids].filter((o) => !blobs.has(o));
    for (const o of missing) asked.add(o);
    for (const [oid, buf] of await repo.readBlobs(missing)) blobs.set(oid, buf.toString("utf8"));
  };

  const configEntry = tree.get(CONFIG_PATH);
  if (configEntry) await readBlobs([configEntry.oid]);
  const loaded = loadRepoConfig(configEntry ? blobs.get(configEntry.oid) : undefined);
  const problems = [...loaded.problems];
  const index = new PathIndex(tree);
  if (problems.some((p) => p.severity === "error")) {
    return { commit, tree, config: loaded.config, problems, stacks: new Map() };
  }
  const { stacks: defs, problems: stackProblems } = resolveStacks(loaded.config, index, loaded.source);
  problems.push(...stackProblems);

  // Compose files reach other compose files (include, extends): read, parse, and read again what
  // the parse asked for that was not read yet, until nothing new is asked for.
  const composeOf = new Map<string, ComposeFileInfo>();
  let pending = defs;
  while (pending.length > 0) {
    const wanted = new Set<string>();
    const retry: StackDef[] = [];
    for (const def of pending) {
      let complete = true;
      // A file neither read nor parsed yet is asked for, and this stack retried in the next round.
      const known = (path: string, oid: string) => blobs.has(oid) || cache.has(path, oid);
      const read = (path: string): string | undefined => {
        const entry = tree.get(path);
        if (!entry || (asked.has(entry.oid) && !blobs.has(entry.oid))) return undefined;
        if (!known(path, entry.oid)) {
          wanted.add(entry.oid);
          complete = false;
        }
        return blobs.get(entry.oid) ?? "";
      };
      const parse = (path: string, text: string): ComposeFileInfo => {
        const entry = tree.get(path);
        if (!entry) return parseComposeFile(path, text);
        if (!known(path, entry.oid)) return EMPTY_COMPOSE;
        return cache.compose(path, entry.oid, () => text);
      };
      const info = collectComposeInputs(def.composeFiles, read, parse);
      if (complete) composeOf.set(def.name, info);
      else retry.push(def);
    }
    if (wanted.size === 0) break;
    await readBlobs(wanted);
    pending = retry;
  }

  const stacks = new Map<string, StackSnapshot>();
  for (const def of defs) {
    const compose = composeOf.get(def.name) as ComposeFileInfo;
    problems.push(...compose.problems);
    const inputs = collectInputs(def, compose, index);
    stacks.set(def.name, { def, inputs, compose, fingerprint: fingerprint(def, inputs) });
  }
  return { commit, tree, config: loaded.config, problems, stacks };
}
