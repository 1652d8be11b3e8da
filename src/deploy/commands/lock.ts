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
   * database's lock for the same (stack, host) knows such a host lock is left over from a dead
   * attempt of its own and may break it at once.
   */
  owner: z.string().optional(),
});
export type LockDetails = z.infer<typeof LockDetails>;

/** Exit status of `takeLockDir` when another holder has the lock. */
export const LOCK_HELD = 75;

/**
 * One round trip: the stack's directories (a first deploy has none), then the atomic `mkdir` of
 * the lock directory (exit LOCK_HELD when it exists), then the details from stdin.
 */
export const takeLockDir = (p: StackPaths): Argv =>
  script(
    `mkdir -p -- "$1" || exit 1; mkdir -- "$2" 2>/dev/null || exit ${LOCK_HELD}; dd of="$3" status=none`,
    p.releasesDir,
    p.lockDir,
    posix.join(p.lockDir, "details.json"),
  );

/** Details are written from stdin, so nothing about the holder lands in argv. */
export const writeLockDetails = (p: StackPaths): Argv => [
  "dd",
  `of=${posix.join(p.lockDir, "details.json")}`,
  "status=none",
];
export const readLockDetails = (p: StackPaths): Argv => ["cat", "--", posix.join(p.lockDir, "details.json")];
export const removeLockDir = (p: StackPaths): Argv => ["rm", "-rf", "--", p.lockDir];

/** Seconds since the epoch of the lock directory's last change. */
export const lockDirMtime = (p: StackPaths): Argv => ["stat", "-c", "%Y", "--", p.lockDir];
