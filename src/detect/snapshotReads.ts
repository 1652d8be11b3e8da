/**
 * The reads of a snapshot, in rounds: each stack's compose project (compose and env files, and the
 * symlinks on their way) and then its inputs (the targets of the symlinks among them) ask for the
 * blobs they need; each round reads all blobs asked for in one batch, and the stacks that asked
 * are collected again, until nothing new is asked for.
 */
import { posix } from "node:path";
import type { Problem } from "../config/problems.ts";
import type { Tree, TreeEntry } from "../git/repo.ts";
import { type ComposeFileInfo, collectComposeInputs } from "./compose.ts";
import { parseComposeFileAt } from "./composeParse.ts";
import type { ComposeEnv } from "./dotenv.ts";
import { collectInputs, type StackInputs } from "./inputs.ts";
import type { PathIndex } from "./pathIndex.ts";
import type { ParseCache } from "./snapshot.ts";
import type { StackDef } from "./stacks.ts";
import { type LinkTargets, resolvePath } from "./symlinks.ts";

/**
 * Blob texts read so far, the ids asked for (an asked id without text cannot be read), and more
 * reading; blobs over the size limit are sized, never read (blobReader.ts).
 */
export interface Blobs {
  readonly blobs: ReadonlyMap<string, string>;
  readonly asked: ReadonlySet<string>;
  readonly tooLarge: ReadonlyMap<string, number>;
  read(oids: Iterable<string>): Promise<void>;
  /** Asked for and neither read nor too large: not a blob (a submodule). */
  absent(oid: string): boolean;
  /** The problem of a file over the limit; undefined when it is within. */
  oversize(path: string, oid: string): Problem | undefined;
}

const EMPTY_COMPOSE: ComposeFileInfo = { refs: [], services: [], absoluteMounts: [], problems: [] };

/** Symlink targets from the blobs read so far; an unreadable one counts as empty (refused). */
function linkTargets(reader: Blobs): LinkTargets {
  return (oid) => reader.blobs.get(oid) ?? (reader.asked.has(oid) ? "" : undefined);
}

/**
 * `step` for every stack, in rounds: a stack whose step asked for blobs not read yet is stepped
 * again once they are, all asked blobs of a round read in one batch.
 */
async function inRounds<T>(
  reader: Blobs,
  defs: readonly StackDef[],
  step: (def: StackDef, ask: (oid: string) => void) => T,
): Promise<Map<string, T>> {
  const done = new Map<string, T>();
  let pending = defs;
  while (pending.length > 0) {
    const wanted = new Set<string>();
    const retry: StackDef[] = [];
    for (const def of pending) {
      let complete = true;
      const result = step(def, (oid) => {
        wanted.add(oid);
        complete = false;
      });
      if (complete) done.set(def.name, result);
      else retry.push(def);
    }
    if (wanted.size === 0) break;
    await reader.read(wanted);
    pending = retry;
  }
  return done;
}

/**
 * Each stack's compose project. Compose files reach other compose files (include, extends), env
 * files and symlinks: read, parse, and read again what the parse asked for that was not read
 * yet, until nothing new is asked for. `reads` gets the paths each stack's collection read.
 */
export function collectCompose(
  reader: Blobs,
  tree: Tree,
  cache: ParseCache,
  defs: readonly StackDef[],
  reads: Map<string, string[]>,
): Promise<Map<string, ComposeFileInfo>> {
  const targets = linkTargets(reader);
  return inRounds(reader, defs, (def, ask) => {
    cache.progress?.(def.name);
    const files = new StackFiles(reader, tree, cache, targets, ask);
    const info = collectComposeInputs(def.composeFiles, files.read, files.parse, def.envFiles, files.exists);
    reads.set(def.name, files.paths); // the last round's, the complete one
    noteOversize(info, files.paths, reader, tree);
    return info;
  });
}

/**
 * One stack's access to the commit's files while its compose project is collected: `read`,
 * `parse` and `exists` for collectComposeInputs, which note the paths read and ask for the blobs
 * not read yet.
 */
class StackFiles {
  /** Every path read, and the links on the way and where they led: a change to any may change the collection. */
  readonly paths: string[] = [];
  readonly #reader: Blobs;
  readonly #tree: Tree;
  readonly #cache: ParseCache;
  readonly #targets: LinkTargets;
  readonly #ask: (oid: string) => void;

  constructor(
    reader: Blobs,
    tree: Tree,
    cache: ParseCache,
    targets: LinkTargets,
    ask: (oid: string) => void,
  ) {
    this.#reader = reader;
    this.#tree = tree;
    this.#cache = cache;
    this.#targets = targets;
    this.#ask = ask;
  }

  readonly read = (path: string): string | undefined => {
    this.paths.push(path);
    const entry = this.#entryOf(path);
    if (!entry || this.#reader.absent(entry.oid)) return undefined;
    const { blobs } = this.#reader;
    // A compose file parsed before needs no text; parse() asks for it if its variables differ.
    // One over the size limit reads as empty: parse() and noteOversize report it.
    if (!blobs.has(entry.oid) && !this.#reader.tooLarge.has(entry.oid) && !this.#cache.has(path, entry.oid))
      this.#ask(entry.oid);
    return blobs.get(entry.oid) ?? "";
  };

  // Files resolved against their own directory are cached; a rebased one (an override file of
  // `-f a -f sub/b`, an include with project_directory) is parsed from its blob every time.
  readonly parse = (path: string, text: string, env: ComposeEnv, baseDir: string): ComposeFileInfo => {
    const entry = this.#entryOf(path);
    if (!entry) return parseComposeFileAt(path, text, baseDir, env);
    const oversize = this.#reader.oversize(path, entry.oid);
    if (oversize) return { ...EMPTY_COMPOSE, problems: [oversize] };
    const own = baseDir === posix.dirname(path);
    const cache = this.#cache;
    if (own && cache.has(path, entry.oid, env)) return cache.compose(path, entry.oid, env, () => text);
    if (!this.#reader.blobs.has(entry.oid)) {
      this.#ask(entry.oid);
      return EMPTY_COMPOSE;
    }
    return own
      ? cache.compose(path, entry.oid, env, () => text)
      : parseComposeFileAt(path, text, baseDir, env);
  };

  // A required env_file must exist (through symlinks inside the repository); its text is not
  // read. A link leaving the repository is reported as such with the stack's inputs, not twice.
  readonly exists = (path: string): boolean => {
    const r = resolvePath(this.#tree, path, this.#targets);
    if (r.kind === "pending") this.#ask(r.oid);
    return r.kind !== "resolved" || this.#tree.has(r.path);
  };

  // The blob a path leads to, through symlinks inside the repository (those leaving it are
  // errors of the stack's inputs); undefined when absent or not known yet.
  #entryOf(path: string): TreeEntry | undefined {
    const r = resolvePath(this.#tree, path, this.#targets);
    if (r.kind === "pending") {
      this.#ask(r.oid);
      return undefined;
    }
    // The links on the way (a change to any may change what is read) and where they led.
    this.paths.push(...r.links);
    if (r.kind === "refused") return undefined;
    if (r.links.length > 0) this.paths.push(r.path);
    return this.#tree.get(r.path);
  }
}

/** Env files over the limit were read as empty (their variables unknown): say why. */
function noteOversize(info: ComposeFileInfo, paths: readonly string[], reader: Blobs, tree: Tree): void {
  for (const path of new Set(paths)) {
    const entry = tree.get(path);
    const oversize = entry && reader.oversize(path, entry.oid);
    if (oversize && !info.problems.some((p) => p.file === path && p.message === oversize.message))
      info.problems.push(oversize);
  }
}

/** Each stack's inputs, reading the targets of the symlinks among them in batches. */
export function collectAllInputs(
  reader: Blobs,
  index: PathIndex,
  defs: readonly StackDef[],
  composeOf: ReadonlyMap<string, ComposeFileInfo>,
): Promise<Map<string, StackInputs>> {
  const targets = linkTargets(reader);
  return inRounds(reader, defs, (def, ask) => {
    const { inputs, pending } = collectInputs(
      def,
      composeOf.get(def.name) as ComposeFileInfo,
      index,
      targets,
    );
    for (const oid of pending) ask(oid);
    return inputs;
  });
}
