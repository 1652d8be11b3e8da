/**
 * A stack's inputs: every file whose change changes what the stack deploys, and its fingerprint.
 * Pure: (stack definition, compose references, tree) -> inputs.
 */
import { createHash } from "node:crypto";
import type { TreeEntry } from "../git/repo.ts";
import type { ComposeFileInfo, RefKind } from "./compose.ts";
import { globHas, isBelow, type PathIndex } from "./pathIndex.ts";
import type { StackDef } from "./stacks.ts";

export interface StackInputs {
  /** Input path -> its tree entry, or null when referenced but absent at this commit. */
  files: Map<string, TreeEntry | null>;
}

export function collectInputs(def: StackDef, compose: ComposeFileInfo, index: PathIndex): StackInputs {
  const files = new Map<string, TreeEntry | null>();
  const addFile = (path: string) => {
    if (!files.has(path)) files.set(path, index.tree.get(path) ?? null);
  };
  // A reference to a directory (build context, bind-mounted folder) makes all of it an input.
  const addPath = (path: string) => {
    if (index.kind(path) === "dir") for (const p of index.under(path)) addFile(p);
    else addFile(path);
  };

  for (const p of index.under(def.path)) addFile(p);
  for (const f of def.composeFiles) addFile(f);
  for (const f of def.envFiles) addFile(f);
  for (const ref of compose.refs) addPath(ref.path);
  for (const pattern of def.watch) for (const p of index.glob(pattern)) addFile(p);
  return { files };
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
  // A present file below a referenced path was added for it: the reference is a directory.
  const below = (dir: string) => entry !== null && isBelow(path, dir);
  for (const ref of compose.refs)
    if (ref.path === path || below(ref.path)) return describeRef(ref.kind, ref.service);
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
