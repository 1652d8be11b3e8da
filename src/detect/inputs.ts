/**
 * A stack's inputs: every file whose change changes what the stack deploys, and its fingerprint.
 * Pure: (stack definition, compose references, tree) -> inputs.
 */
import { createHash } from "node:crypto";
import type { TreeEntry } from "../git/repo.ts";
import type { ComposeFileInfo, RefKind } from "./compose.ts";
import type { PathIndex } from "./pathIndex.ts";
import type { StackDef } from "./stacks.ts";

export interface StackInputs {
  /** Input path -> its tree entry, or null when referenced but absent at this commit. */
  files: Map<string, TreeEntry | null>;
  /** Why a path outside the stack directory is an input, e.g. "env_file of service web". */
  via: Map<string, string>;
}

export function collectInputs(def: StackDef, compose: ComposeFileInfo, index: PathIndex): StackInputs {
  const files = new Map<string, TreeEntry | null>();
  const via = new Map<string, string>();
  const addFile = (path: string, why?: string) => {
    if (!files.has(path)) files.set(path, index.tree.get(path) ?? null);
    if (why && !via.has(path)) via.set(path, why);
  };
  // A reference to a directory (build context, bind-mounted folder) makes all of it an input.
  const addPath = (path: string, why: string) => {
    if (index.kind(path) === "dir") for (const p of index.under(path)) addFile(p, why);
    else addFile(path, why);
  };

  for (const p of index.under(def.path)) addFile(p);
  for (const f of def.composeFiles) addFile(f, "compose file");
  for (const f of def.envFiles) addFile(f, "env file of the stack");
  for (const ref of compose.refs) {
    addPath(ref.path, describeRef(ref.kind, ref.service));
  }
  for (const pattern of def.watch) for (const p of index.glob(pattern)) addFile(p, `watched (${pattern})`);
  return { files, via };
}

function describeRef(kind: RefKind, service?: string): string {
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
