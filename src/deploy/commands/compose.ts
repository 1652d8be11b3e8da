/**
 * `docker compose` (v2) and `docker-compose` (v1) invocations. Pure argv builders: the project is
 * always named and its files always explicit, so the same stack maps to the same containers no
 * matter which directory or release the command runs from.
 */
import { type Argv, script } from "../shell.ts";

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

/**
 * v2 waits for running/healthy itself (`--wait`); we still check health after, for both.
 * `noBuild` where a builder made the images: a deploy host never builds.
 */
export function composeUp(p: ComposeProject, opts: { waitSeconds?: number; noBuild?: boolean } = {}): Argv {
  const args = [...base(p), "up", "--detach", "--remove-orphans"];
  if (opts.noBuild) args.push("--no-build");
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

/** Where the docker CLI looks for plugins, after `$DOCKER_CONFIG/cli-plugins` (or `~/.docker/cli-plugins`). */
export const CLI_PLUGIN_DIRS = [
  "/usr/local/lib/docker/cli-plugins",
  "/usr/local/libexec/docker/cli-plugins",
  "/usr/lib/docker/cli-plugins",
  "/usr/libexec/docker/cli-plugins",
] as const;

/**
 * Prints `v2` when the compose plugin is installed where the docker CLI finds it, else `v1` when
 * `docker-compose` is on the PATH; exits 1 when neither. Shell builtins only: asking
 * `docker compose version` starts the docker CLI (and, where there is no plugin, fails slowly
 * with 125) in a round trip before every deploy. Like v1, v2 is judged by being installed.
 */
export const composeFlavorProbe = (pluginDirs: readonly string[] = CLI_PLUGIN_DIRS): Argv =>
  script(
    `for d in "\${DOCKER_CONFIG:-$HOME/.docker}/cli-plugins" "$@"; do
  if [ -x "$d/docker-compose" ]; then echo v2; exit 0; fi
done
if command -v docker-compose >/dev/null 2>&1; then echo v1; exit 0; fi
exit 1`,
    ...pluginDirs,
  );
