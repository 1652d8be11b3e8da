/**
 * Compose input detection: every local file a stack's compose project depends on, so that a change to
 * any of them marks the stack as changed.
 *
 * All paths are repo-relative POSIX paths (normalized, no leading `./`; the repository root is `.`).
 * Directory refs (`build_context`, and `bind_mount` when the source is a directory) cover everything
 * below them: match changed files by prefix.
 */

import type { Problem } from "../config/problems.ts";

export type RefKind =
  | "compose"
  | "include"
  | "extends"
  | "env_file"
  | "dotenv"
  | "build_context"
  | "dockerfile"
  | "bind_mount"
  | "config"
  | "secret";

export interface ComposeRef {
  kind: RefKind;
  /** Repo-relative path of the referenced file or directory. */
  path: string;
  /** Repo-relative compose file that references it (an entry file references itself). */
  from: string;
  line: number;
  col: number;
  /** The service the reference belongs to, for service-level references. */
  service?: string;
  /** Set when Compose tolerates the file being absent (`required: false`, the implicit `.env`). */
  optional?: boolean;
  /**
   * For `include` refs: the directory the included file's relative paths resolve against
   * (`project_directory`, else the directory of the entry's first file).
   */
  projectDirectory?: string;
  /** For `include` refs with `env_file`: those files (repo-relative), which the included project is interpolated with. */
  envFiles?: string[];
}

export interface ComposeService {
  name: string;
  /** As written; variables are not substituted. */
  image?: string;
  /**
   * `context` and `dockerfile` are repo-relative for a local context; for a remote (git/http) or
   * unresolvable context they are the values as written.
   */
  build?: {
    context: string;
    dockerfile?: string;
    args?: Record<string, string>;
    target?: string;
    network?: string;
    /** False for a remote (git/http), host-path or unresolvable context: not built from the repository. */
    local: boolean;
    /** `dockerfile_inline` is set: the Dockerfile is in the compose file. */
    inline?: boolean;
  };
  /** True when the compose file defines an enabled healthcheck test (one from the image is unknowable here). */
  healthcheck: boolean;
  /**
   * The service this one extends; `file` is repo-relative and is the defining file for same-file
   * extends; `line`/`col` are where `extends` is written (an extends cycle is reported there).
   */
  extends?: { service: string; file: string; line: number; col: number };
}

/** A compose file's problem, in the shape of every other (key path like `services.web.volumes[0]`). */
export type ComposeProblem = Problem;

/**
 * A host path outside the repository that would be mounted into containers. `service` is empty for
 * top-level declarations (configs/secrets `file:`, local volumes with `o: bind`), which any service may use.
 */
export interface AbsoluteMount {
  file: string;
  line: number;
  col: number;
  service: string;
  /** The host path; as written when `unresolved` is set. */
  source: string;
  /**
   * `env_file`: a host file Compose reads into containers' environment (or, in an include, into
   * interpolation): as much a way to reach a host's files as a bind mount, so policed as one.
   */
  via?: "env_file";
  /**
   * Variables the repository does not define (`${ROOT}`), which make the source any path the deploy
   * host's environment gives: no allowed root accepts such a mount.
   */
  unresolved?: string[];
}

export interface ComposeFileInfo {
  refs: ComposeRef[];
  services: ComposeService[];
  absoluteMounts: AbsoluteMount[];
  problems: ComposeProblem[];
  projectName?: string;
}

export { collectComposeInputs } from "./composeCollect.ts";
export { parseComposeFile } from "./composeParse.ts";
