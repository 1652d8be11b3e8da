/**
 * Release directories and the `current` switch (git-sync's atomic symlink swap). Pure argv builders.
 * A deploy's steps on the host are few constant `sh -c` scripts (shell.ts `script`) with every
 * variable part a positional argument: each round trip and each remote process costs wall time
 * on every host of a rollout.
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

/** Prints the release `current` points at (exit 1 when there is none). */
export const readCurrent = (p: StackPaths): Argv => ["readlink", "--", p.current];

/** Releases, newest first (by modification time of their directories: activation marks them). */
export const listReleases = (p: StackPaths): Argv => ["ls", "-1t", "--", p.releasesDir];

/** Test for a directory: exit 0 when it exists. */
export const isDir = (dir: string): Argv => ["test", "-d", dir];

export const readFile = (path: string): Argv => ["cat", "--", path];

/** Where Stackpilot's own files live in a release (the manifest, an images override). */
export const META_DIR = ".stackpilot";

/** Where a release records what it is, for rollbacks that must not rebuild anything. */
export const manifestPath = (releaseDir: string) => posix.join(releaseDir, META_DIR, "release.json");

/** A file Stackpilot writes into a release's META_DIR: its name there and its size in bytes. */
export interface MetaFile {
  name: string;
  bytes: number;
}

const META_NAME = /^[A-Za-z0-9_][A-Za-z0-9._-]*$/;

/**
 * Upload, publish and switch in one round trip. Stdin carries the META_DIR files (their bytes,
 * back to back, in the order given; read exactly with `dd bs=1`, so nothing of their content
 * lands in argv) followed by the gzipped tar of the stack's files. The staging dir gets the tree
 * (`$1/tree`) and those files (`$1/meta`) apart, so the tar can never overwrite them: META_DIR is
 * Stackpilot's, and replaces whatever the repository had at that path. Then, as in git-sync's
 * swap: the tree replaces `releases/<id>` (a redeployed commit) wholesale, is marked newest, a
 * relative `current.next` is linked to it and renamed over `current` (the atomic step; until it,
 * `current` names the old release). Any failure before the switch removes the staging dir and
 * leaves `current` alone; a tar stream cut short fails gzip's length and CRC check, so a partial
 * upload is never published. With `fence`, the lock's nonce is checked again once the (long)
 * upload is in, before anything is published: a deploy that lost its lock meanwhile publishes
 * nothing (commands/lock.ts `fenced` checks it when the command starts).
 */
export const uploadAndSwitch = (
  p: StackPaths,
  staging: string,
  id: string,
  meta: readonly MetaFile[],
  fence?: { nonce: string },
): Argv => uploadRelease(p, staging, id, meta, { ...(fence ? { fence } : {}), switch: true });

/**
 * `uploadAndSwitch`, or with `switch: false` the upload and publication alone: the release
 * directory exists, `current` still names the old release (hooks run between the two, see
 * hostDeploy.ts; `switchAndRun` switches later).
 */
export function uploadRelease(
  p: StackPaths,
  staging: string,
  id: string,
  meta: readonly MetaFile[],
  opts: { fence?: { nonce: string }; switch: boolean },
): Argv {
  const fence = opts.fence;
  const pairs: string[] = [];
  for (const f of meta) {
    if (!META_NAME.test(f.name) || !Number.isSafeInteger(f.bytes) || f.bytes < 0)
      throw new Error(`bad release meta file ${JSON.stringify(f)}`);
    pairs.push(f.name, String(f.bytes));
  }
  return script(
    's=$1 r=$2 l=$3 n=$4 c=$5 L=$6 N=$7; shift 7; t="$s/tree" m="$s/meta"; ' +
      'fail() { rm -rf -- "$s"; exit 1; }; ' +
      'mkdir -p -- "$t" "$m" || fail; ' +
      'while [ $# -ge 2 ]; do dd bs=1 count="$2" of="$m/$1" status=none || fail; shift 2; done; ' +
      'tar -x -z --no-same-owner -f - -C "$t" || fail; ' +
      '[ -z "$N" ] || [ "$(cat -- "$L/nonce" 2>/dev/null)" = "$N" ] || ' +
      '{ echo "stackpilot: the lock $L is no longer held by this deploy" >&2; fail; }; ' +
      `if [ -e "$t/${META_DIR}" ] || [ -L "$t/${META_DIR}" ]; then rm -rf -- "$t/${META_DIR}" || fail; fi; ` +
      `mv -T -- "$m" "$t/${META_DIR}" || fail; ` +
      'if [ -e "$r" ] || [ -L "$r" ]; then rm -rf -- "$r" || fail; fi; ' +
      'mv -T -- "$t" "$r" || fail; rmdir -- "$s"' +
      (opts.switch ? '; touch -c -- "$r" && ln -sfn -- "$l" "$n" && mv -T -- "$n" "$c"' : ""),
    staging,
    p.release(id),
    posix.join("releases", id),
    `${p.current}.next`,
    p.current,
    p.lockDir,
    fence?.nonce ?? "",
    ...pairs,
  );
}

/** Marks the release newest, links `current.next` to it, renames that over `current` (atomic). */
const SWITCH = 'touch -c -- "$1" && ln -sfn -- "$2" "$3" && mv -T -- "$3" "$4"';
const switchArgs = (p: StackPaths, id: string) => [
  p.release(id),
  posix.join("releases", id),
  `${p.current}.next`,
  p.current,
];

/** Switch `current` to a retained release in one round trip. */
export const switchTo = (p: StackPaths, id: string): Argv => script(SWITCH, ...switchArgs(p, id));

/**
 * `switchTo`, then `then` (e.g. `compose up` of the release) in the same round trip, only once the
 * switch is done.
 */
export const switchAndRun = (p: StackPaths, id: string, then: Argv): Argv =>
  script(`${SWITCH} && shift 4 && exec "$@"`, ...switchArgs(p, id), ...then);

/**
 * Prune in one round trip: of the releases newest first (`ls -1t`, which skips dot entries such as
 * staging dirs), keep the newest `keep` and never `current`; remove the rest with one `rm`.
 */
export const pruneReleases = (p: StackPaths, keep: number, current: string): Argv =>
  script(
    'cd -- "$1" 2>/dev/null || exit 0; k=$2 c=$3; ' +
      "ls -1t | { n=0; set --; while IFS= read -r r; do n=$((n + 1)); " +
      'if [ "$n" -gt "$k" ] && [ "$r" != "$c" ]; then set -- "$@" "$r"; fi; done; ' +
      '[ $# -eq 0 ] || exec rm -rf -- "$@"; }',
    p.releasesDir,
    String(keep),
    current,
  );
