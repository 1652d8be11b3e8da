/**
 * Image operations: login, build, push, pull. Pure argv builders; a registry password never
 * appears here (it goes to `docker login --password-stdin` on stdin).
 */
import type { Argv } from "../shell.ts";

export const dockerLogin = (address: string, username: string): Argv => [
  "docker",
  "login",
  "--username",
  username,
  "--password-stdin",
  address,
];

export interface BuildArgs {
  /** Every reference to tag the result with; the first is the one deploy hosts run. */
  tags: readonly string[];
  /** Absolute context directory on the builder. */
  context: string;
  /** Absolute Dockerfile path on the builder. */
  dockerfile?: string;
  args?: Readonly<Record<string, string>>;
  target?: string;
  /** Compose's `build.network` (e.g. `host`, `none`). */
  network?: string;
}

export function dockerBuild(b: BuildArgs): Argv {
  const argv = ["docker", "build", "--quiet"];
  for (const t of b.tags) argv.push("--tag", t);
  if (b.dockerfile) argv.push("--file", b.dockerfile);
  for (const [k, v] of Object.entries(b.args ?? {}).sort(([x], [y]) => (x < y ? -1 : 1))) {
    argv.push("--build-arg", `${k}=${v}`);
  }
  if (b.target) argv.push("--target", b.target);
  if (b.network) argv.push("--network", b.network);
  argv.push(b.context);
  return argv;
}

export const dockerPush = (ref: string): Argv => ["docker", "push", "--quiet", ref];

export const dockerPull = (ref: string): Argv => ["docker", "pull", "--quiet", ref];

/** Exit 0 when the engine has the image (a builder-local image needs no pull). */
export const imagePresent = (ref: string): Argv => ["docker", "image", "inspect", "--format", "{{.Id}}", ref];
