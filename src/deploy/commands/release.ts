/**
 * Release directories and the `current` switch (git-sync's atomic symlink swap). Pure argv builders.
 */
import { posix } from "node:path";
import { type Argv, script } from "../shell.ts";
import type { StackPaths } from "./paths.ts";

/** A fresh staging directory for an upload; renamed into place only once complete. */
export const stagingDir = (p: StackPaths, id: string, nonce: string) =>
  posix.join(p.releasesDir, `.incoming-${id}-${nonce}`);

export const makeDir = (dir: string): Argv => ["mkdir", "-p", "--", dir];

/** Unpack a gzipped tar stream from stdin. `--no-same-owner`: files belong to the deploy user. */
export const untar = (dir: string): Argv => ["tar", "-x", "-z", "--no-same-owner", "-f", "-", "-C", dir];

export const removeTree = (dir: string): Argv => ["rm", "-rf", "--", dir];

/** `mv -T` renames onto the target name itself (never into it when it is a directory). */
export const rename = (from: string, to: string): Argv => ["mv", "-T", "--", from, to];

/** Step 1 of the switch: a new symlink beside `current`, pointing at the release (relative). */
export const linkNext = (p: StackPaths, id: string): Argv => [
  "ln",
  "-sfn",
  "--",
  posix.join("releases", id),
  `${p.current}.next`,
];

/** Step 2: rename(2) over `current` is atomic; readers see the old or the new release, never neither. */
export const swapCurrent = (p: StackPaths): Argv => rename(`${p.current}.next`, p.current);

/** Prints the release `current` points at (exit 1 when there is none). */
export const readCurrent = (p: StackPaths): Argv => ["readlink", "--", p.current];

/** Releases, newest first (by modification time of their directories). */
export const listReleases = (p: StackPaths): Argv => ["ls", "-1t", "--", p.releasesDir];

/** Touch marks a release as most recently activated, so listReleases orders by activation. */
export const touch = (dir: string): Argv => ["touch", "-c", "--", dir];

/** Test for a directory: exit 0 when it exists. */
export const isDir = (dir: string): Argv => ["test", "-d", dir];

/** Which releases to delete: keep the newest `keep` and never the current one. Pure. */
export function releasesToPrune(
  newestFirst: readonly string[],
  current: string | undefined,
  keep: number,
): string[] {
  const releases = newestFirst.filter((r) => !r.startsWith("."));
  return releases.slice(keep).filter((r) => r !== current);
}

/** Write stdin to a file (used for small JSON files: nothing of their content lands in argv). */
export const writeFromStdin = (path: string): Argv => ["dd", `of=${path}`, "status=none"];
export const readFile = (path: string): Argv => ["cat", "--", path];

/** Where a release records what it is, for rollbacks that must not rebuild anything. */
export const manifestPath = (releaseDir: string) => posix.join(releaseDir, ".stackpilot", "release.json");

/**
 * Publish a staged release and switch to it, in one round trip: replace `releases/<id>` (a
 * redeployed commit) by the staging dir, mark it newest, link `current.next` to it, and rename
 * that over `current` (the atomic step; before it, `current` still names the old release).
 */
export const publishAndSwitch = (p: StackPaths, staging: string, id: string): Argv =>
  script(
    'rm -rf -- "$1" && mv -T -- "$2" "$1" && touch -c -- "$1" && ln -sfn -- "$3" "$4" && mv -T -- "$4" "$5"',
    p.release(id),
    staging,
    posix.join("releases", id),
    `${p.current}.next`,
    p.current,
  );
