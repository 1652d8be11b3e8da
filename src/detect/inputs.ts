/**
 * A stack's inputs: every file whose change changes what the stack deploys, and its fingerprint.
 * Pure: (stack definition, compose references, tree, symlink targets) -> inputs.
 */
import { createHash } from "node:crypto";
import type { Problem } from "../config/problems.ts";
import { MODE_SYMLINK, type TreeEntry } from "../git/repo.ts";
import type { ComposeFileInfo, ComposeRef, RefKind } from "./compose.ts";
import { hookScripts } from "./hooks.ts";
import { globHas, isBelow, type PathIndex } from "./pathIndex.ts";
import type { StackDef } from "./stacks.ts";
import { isSymlink, type LinkTargets, resolvePath } from "./symlinks.ts";

export interface StackInputs {
  /** Input path -> its tree entry, or null when referenced but absent at this commit. */
  files: Map<string, TreeEntry | null>;
  /**
   * Symlinks among the inputs -> where they lead inside the repository. What they lead to is an
   * input too (all of it for a directory), so a release holds the link and what it points at.
   */
  links: Map<string, string>;
  /** Symlinks among the inputs that leave the repository (or loop): errors that block the stack. */
  problems: Problem[];
}

/**
 * The inputs, and the blob ids of symlinks whose targets are needed but not in `targets` yet:
 * read those and collect again.
 */
export function collectInputs(
  def: StackDef,
  compose: ComposeFileInfo,
  index: PathIndex,
  targets: LinkTargets = () => undefined,
): { inputs: StackInputs; pending: Set<string> } {
  const collector = new InputCollector(def, index, targets);
  // References first: a symlink that leaves the repository is reported where it is used.
  for (const ref of compose.refs) collector.addPath(ref.path, ref);
  for (const f of def.composeFiles) collector.addFile(f);
  for (const f of def.envFiles) collector.addFile(f);
  // A hook script runs from the release: it ships with it (a symlinked one is refused in stacks.ts).
  for (const f of hookScripts(def.hooks)) {
    const mode = index.tree.get(f)?.mode;
    if (mode !== undefined && mode !== MODE_SYMLINK) collector.addFile(f);
  }
  for (const p of index.under(def.path)) collector.addFile(p);
  for (const pattern of def.watch) for (const p of index.glob(pattern)) collector.addFile(p);
  const { files, links, problems, pending } = collector;
  return { inputs: { files, links, problems }, pending };
}

class InputCollector {
  readonly files = new Map<string, TreeEntry | null>();
  readonly links = new Map<string, string>();
  readonly problems: Problem[] = [];
  readonly pending = new Set<string>();
  readonly #def: StackDef;
  readonly #index: PathIndex;
  readonly #targets: LinkTargets;

  constructor(def: StackDef, index: PathIndex, targets: LinkTargets) {
    this.#def = def;
    this.#index = index;
    this.#targets = targets;
  }

  /** A file (or symlink) path; `ref` is the compose reference it is an input for, if any. */
  addFile(path: string, ref?: ComposeRef): void {
    if (this.files.has(path)) return;
    const entry = this.#index.tree.get(path) ?? null;
    if (entry === null && this.#throughLink(path)) {
      this.#follow(path, ref);
      return;
    }
    this.files.set(path, entry);
    if (entry?.mode === MODE_SYMLINK) this.#follow(path, ref);
  }

  /**
   * A reference to a directory (build context, bind-mounted folder) makes all of it an input; `.`
   * is the repository's root (where a symlink may lead).
   */
  addPath(path: string, ref?: ComposeRef): void {
    if (path === "." || this.#index.kind(path) === "dir")
      for (const p of this.#index.under(path)) this.addFile(p, ref);
    else this.addFile(path, ref);
  }

  /** An absent path may still exist through a symlinked directory on its way (`data/x`, `data -> ../shared`). */
  #throughLink(path: string): boolean {
    for (let slash = path.lastIndexOf("/"); slash > 0; slash = path.lastIndexOf("/", slash - 1))
      if (isSymlink(this.#index.tree, path.slice(0, slash))) return true;
    return false;
  }

  /** The links on the way to `path` are inputs, and so is where they lead. */
  #follow(path: string, ref: ComposeRef | undefined): void {
    const r = resolvePath(this.#index.tree, path, this.#targets);
    if (r.kind === "pending") {
      this.pending.add(r.oid);
    } else if (r.kind === "refused") {
      // The links on the way are inputs still: a change to any of them may fix it.
      for (const link of r.links)
        if (!this.files.has(link)) this.files.set(link, this.#index.tree.get(link) ?? null);
      this.#refuse(r.message, ref, r.link);
    } else {
      for (const link of r.links) this.addFile(link, ref);
      if (this.#index.tree.has(path)) this.links.set(path, r.path);
      this.addPath(r.path, ref);
    }
  }

  #refuse(message: string, ref: ComposeRef | undefined, link: string): void {
    const problem: Problem = ref
      ? {
          file: ref.from,
          line: ref.line,
          col: ref.col,
          key: "",
          message: `${describeRef(ref.kind, ref.service)}: ${message}`,
          severity: "error",
        }
      : {
          file: link,
          line: 1,
          col: 1,
          key: "",
          message: `${message}; it is an input of stack ${this.#def.name}`,
          severity: "error",
        };
    if (!this.problems.some((p) => p.message === problem.message && p.file === problem.file))
      this.problems.push(problem);
  }
}

/**
 * The present input files at or below `paths`, plus those of what the symlinks among them point
 * at (what a symlinked build context needs besides the link itself), sorted.
 */
export function inputsWithin(inputs: StackInputs, paths: readonly string[]): string[] {
  const out = new Set<string>();
  const dirs = [...paths];
  for (let i = 0; i < dirs.length; i++) {
    const dir = dirs[i] as string;
    for (const [path, entry] of inputs.files) {
      if (entry === null || out.has(path) || !(path === dir || isBelow(path, dir))) continue;
      out.add(path);
      const target = inputs.links.get(path);
      if (target !== undefined && !dirs.includes(target)) dirs.push(target);
    }
  }
  return [...out].sort();
}

/**
 * Why `path` is an input of the stack, e.g. "env_file of service web": the first of the reasons
 * {@link collectInputs} adds paths for, checked in the same order. Undefined for paths that are
 * inputs only by being in the stack directory, and for paths that are no input. Computed when a
 * plan names a changed file, rather than stored for every input.
 */
export function inputReason(
  def: StackDef,
  compose: ComposeFileInfo,
  inputs: StackInputs,
  path: string,
): string | undefined {
  const entry = inputs.files.get(path);
  if (entry === undefined) return undefined;
  if (def.composeFiles.includes(path)) return "compose file";
  if (def.envFiles.includes(path)) return "env file of the stack";
  for (const [name, h] of Object.entries(def.hooks ?? {}))
    if (h.script === path) return `${name} hook script`;
  // A present file below a referenced path was added for it: the reference is a directory.
  const below = (dir: string) => entry !== null && isBelow(path, dir);
  for (const ref of compose.refs)
    if (ref.path === path || below(ref.path)) return describeRef(ref.kind, ref.service);
  for (const [link, target] of inputs.links)
    if (target === path || below(target)) return `what the symlink ${link} points at`;
  if (entry !== null)
    for (const pattern of def.watch) if (globHas(pattern, path)) return `watched (${pattern})`;
  return undefined;
}

export function describeRef(kind: RefKind, service?: string): string {
  const what: Record<RefKind, string> = {
    compose: "compose file",
    include: "included compose file",
    extends: "extended compose file",
    env_file: "env_file",
    dotenv: ".env of the project",
    build_context: "build context",
    dockerfile: "Dockerfile",
    bind_mount: "bind mount",
    config: "config file",
    secret: "secret file",
  };
  return service ? `${what[kind]} of service ${service}` : what[kind];
}

/** The part of a stack's config that changes what is deployed (targets are not content). */
export function deployConfigOf(def: StackDef): Record<string, unknown> {
  return {
    path: def.path,
    composeFiles: def.composeFiles,
    envFiles: def.envFiles,
    watch: def.watch,
    projectName: def.projectName,
    // Only when set, so that the fingerprints of stacks without hooks stay what they were.
    ...(def.hooks ? { hooks: def.hooks } : {}),
  };
}

/**
 * sha256 over the sorted (path, mode, blob id) of every input plus the deploy config. Equal
 * fingerprints mean identical deployments, whatever commits lie between them.
 */
export function fingerprint(def: StackDef, inputs: StackInputs): string {
  const hash = createHash("sha256");
  hash.update("stackpilot-fingerprint-v1\n");
  for (const path of [...inputs.files.keys()].sort()) {
    const e = inputs.files.get(path);
    hash.update(`${path}\0${e ? `${e.mode}\0${e.oid}` : "-\0-"}\n`);
  }
  hash.update(`config\0${JSON.stringify(deployConfigOf(def))}\n`);
  return `sha256:${hash.digest("hex")}`;
}
