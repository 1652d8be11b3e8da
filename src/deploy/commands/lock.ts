/**
 * The lock directory on a host (Kamal's approach): `mkdir` is atomic, so exactly one deployer
 * creates it; a details file says who holds it, since when, for which commit, and until when.
 */
import { posix } from "node:path";
import { z } from "zod";
import { type Argv, script } from "../shell.ts";
import type { StackPaths } from "./paths.ts";

export const LockDetails = z.object({
  holder: z.string(),
  commit: z.string(),
  acquiredAt: z.string(),
  /** The holder refreshes this while it works; past it, the lock may be broken. */
  expiresAt: z.string(),
  /**
   * The Stackpilot installation (its database) that took the lock. A deployer holding that
   * database's lock for the same (stack, host) knows such a host lock belongs to an attempt of its
   * own that died or is stopping, and waits for it to be released or to lapse (hostLock.ts);
   * another installation's lock is refused at once.
   */
  owner: z.string().optional(),
});
export type LockDetails = z.infer<typeof LockDetails>;

/** Exit status of `takeLockDir` when another holder has the lock. */
export const LOCK_HELD = 75;
/** Exit status of a fenced command whose holder no longer has the lock (see `fenced`). */
export const LOCK_LOST = 76;

/** The file in the lock directory holding the holder's nonce (fencing token). */
const NONCE_FILE = "nonce";

/**
 * One round trip: the stack's directories (a first deploy has none), then the lock directory,
 * built aside with its details (from stdin) and the holder's nonce, and renamed into place. The
 * rename is the atomic step (it fails when the lock exists: exit LOCK_HELD), so a lock directory
 * never exists without readable details, even when its writer dies half way. Once the lock is
 * held, it prints where `current` points (nothing when there is none): read under the lock, it is
 * the release the holder replaces, and no other round trip is needed to learn it.
 */
export const takeLockDir = (p: StackPaths, nonce: string): Argv =>
  script(
    `mkdir -p -- "$1" || exit 1; t="$2.new.$$"; mkdir -- "$t" || exit 1; ` +
      `dd of="$t/details.json" status=none && printf '%s' "$4" > "$t/${NONCE_FILE}" || { rm -rf -- "$t"; exit 1; }; ` +
      `mv -T -- "$t" "$2" 2>/dev/null || { rm -rf -- "$t"; exit ${LOCK_HELD}; }; ` +
      `readlink -- "$3" || :`,
    p.releasesDir,
    p.lockDir,
    p.current,
    checkedNonce(nonce),
  );

/**
 * `argv`, run only while the lock directory still holds `nonce` (the fencing token of whoever took
 * it): a holder whose lock was broken (it expired while the holder was cut off, or the holder
 * lost its database lock and did not notice yet) fails with LOCK_LOST instead of acting on a target
 * someone else now deploys. The check and `argv` run in one round trip, no extra process.
 */
export const fenced = (p: StackPaths, nonce: string, argv: Argv): Argv =>
  script(
    `[ "$(cat -- "$1/${NONCE_FILE}" 2>/dev/null)" = "$2" ] || ` +
      `{ echo "stackpilot: the lock $1 is no longer held by this deploy" >&2; exit ${LOCK_LOST}; }; ` +
      'shift 2; exec "$@"',
    p.lockDir,
    checkedNonce(nonce),
    ...argv,
  );

/** Details are written from stdin, so nothing about the holder lands in argv. */
export const writeLockDetails = (p: StackPaths): Argv => [
  "dd",
  `of=${posix.join(p.lockDir, "details.json")}`,
  "status=none",
];
export const readLockDetails = (p: StackPaths): Argv => ["cat", "--", posix.join(p.lockDir, "details.json")];
export const removeLockDir = (p: StackPaths): Argv => ["rm", "-rf", "--", p.lockDir];

/**
 * `argv` (e.g. the prune that ends a deploy), then the lock directory removed whatever `argv`
 * did, in one round trip; exits with `argv`'s status. Run it fenced: only the holder unlocks.
 */
export const thenUnlock = (p: StackPaths, argv: Argv): Argv =>
  script('l=$1; shift; "$@"; s=$?; rm -rf -- "$l"; exit $s', p.lockDir, ...argv);

function checkedNonce(nonce: string): string {
  if (!/^[0-9a-f]{8,64}$/.test(nonce)) throw new Error(`bad lock nonce ${JSON.stringify(nonce)}`);
  return nonce;
}

/** Seconds since the epoch of the lock directory's last change. */
export const lockDirMtime = (p: StackPaths): Argv => ["stat", "-c", "%Y", "--", p.lockDir];
