/**
 * `docker compose` (v2) and `docker-compose` (v1) invocations. Pure argv builders: the project is
 * always named and its files always explicit, so the same stack maps to the same containers no
 * matter which directory or release the command runs from.
 */
import type { Argv } from "../shell.ts";

export type ComposeFlavor = "v2" | "v1";

export interface ComposeProject {
  flavor: ComposeFlavor;
  /** Compose project name (validated: [a-z0-9][a-z0-9_-]*). */
  name: string;
  /** Absolute project directory on the host (inside a release). */
  directory: string;
  /** Absolute compose file paths, merged in order. */
  files: readonly string[];
  /** Absolute `--env-file` paths. */
  envFiles: readonly string[];
}

export const COMPOSE_BINARY: Record<ComposeFlavor, Argv> = {
  v2: ["docker", "compose"],
  v1: ["docker-compose"],
};

export class ComposeUsageError extends Error {
  override name = "ComposeUsageError";
}

function base(p: ComposeProject): string[] {
  if (p.flavor === "v1" && p.envFiles.length > 1) {
    throw new ComposeUsageError(
      `docker-compose v1 accepts one --env-file; stack "${p.name}" has ${p.envFiles.length}`,
    );
  }
  const args = [...COMPOSE_BINARY[p.flavor], "--project-name", p.name, "--project-directory", p.directory];
  for (const f of p.files) args.push("--file", f);
  for (const e of p.envFiles) args.push("--env-file", e);
  return args;
}

/** v2 waits for running/healthy itself (`--wait`); we still check health after, for both. */
export function composeUp(p: ComposeProject, opts: { waitSeconds?: number } = {}): Argv {
  const args = [...base(p), "up", "--detach", "--remove-orphans"];
  if (p.flavor === "v2" && opts.waitSeconds) args.push("--wait", "--wait-timeout", String(opts.waitSeconds));
  return args;
}

/** Pull only the named services (those whose image reference changed). */
export function composePull(p: ComposeProject, services: readonly string[]): Argv {
  return [...base(p), "pull", "--quiet", ...(services.length ? ["--", ...services] : [])];
}

export const composeDown = (p: ComposeProject): Argv => [...base(p), "down", "--remove-orphans"];

export const composeLogs = (p: ComposeProject, tail = 100): Argv => [
  ...base(p),
  "logs",
  "--no-color",
  "--tail",
  String(tail),
];

export const composeVersion = (flavor: ComposeFlavor): Argv =>
  flavor === "v2" ? ["docker", "compose", "version", "--short"] : ["docker-compose", "version", "--short"];

/**
 * Exit 0 when `docker-compose` (v1) is on the PATH of the remote shell. For detection this beats
 * `docker-compose version`: that starts a Python interpreter (~0.3 s of CPU, seconds on a loaded
 * host) only to print a version, before every deploy.
 */
export const composeV1OnPath = (): Argv => ["command", "-v", "docker-compose"];
