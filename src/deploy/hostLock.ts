/**
 * The (stack, host) lock directory. Acquired with an atomic rename (commands/lock.ts), in the same
 * round trip that reads where `current` points; the holder refreshes its expiry while it works, so
 * a lock left by a dead deployer can be broken once it expires, and never sooner.
 */
import { posix } from "node:path";
import {
  LOCK_HELD,
  LockDetails,
  lockDirMtime,
  readLockDetails,
  removeLockDir,
  takeLockDir,
  writeLockDetails,
} from "./commands/lock.ts";
import type { StackPaths } from "./commands/paths.ts";
import { RemoteCommandError, type Runner } from "./runner.ts";

export class LockedError extends Error {
  override name = "LockedError";
  readonly details: LockDetails | undefined;
  constructor(host: string, stack: string, details: LockDetails | undefined) {
    super(
      details
        ? `${stack} on ${host} is locked by ${details.holder} (commit ${details.commit.slice(0, 7)}, since ${details.acquiredAt}, until ${details.expiresAt})`
        : `${stack} on ${host} is locked (no readable details)`,
    );
    this.details = details;
  }
}

export interface HeldLock {
  /**
   * The release `current` named when the lock was taken (read in the same round trip; undefined:
   * none), kept up to date by the holder through `switched`. Under the lock only the holder
   * switches `current`, so this is what the host has, without asking it again.
   */
  readonly current: string | undefined;
  /** The holder switched `current` to `release`. */
  switched(release: string): void;
  release(): Promise<void>;
}

/** Locks held through a runner, by host and lock directory (see `heldLock`). */
const held = new WeakMap<Runner, Map<string, HeldLock>>();
const heldKey = (host: string, paths: StackPaths) => `${host}\0${paths.lockDir}`;

/**
 * The lock this runner holds on (host, stack), if any: what a deployer knows about `current`
 * while it holds the lock, so that reading it costs no round trip.
 */
export function heldLock(runner: Runner, host: string, paths: StackPaths): HeldLock | undefined {
  return held.get(runner)?.get(heldKey(host, paths));
}

/** `readlink current` output -> release id. */
export const releaseOfLink = (target: string): string | undefined =>
  posix.basename(target.trim()) || undefined;

export async function acquireHostLock(
  runner: Runner,
  host: string,
  stack: string,
  paths: StackPaths,
  who: { holder: string; commit: string; owner?: string },
  ttlMs: number,
  now: () => Date = () => new Date(),
): Promise<HeldLock> {
  const details = (): string => {
    const at = now();
    return JSON.stringify({
      ...who,
      acquiredAt: acquiredAt ?? at.toISOString(),
      expiresAt: new Date(at.getTime() + ttlMs).toISOString(),
    });
  };
  let acquiredAt: string | undefined;
  let linked: string | undefined;
  for (let attempt = 0; attempt < 2; attempt++) {
    const first = details();
    const made = await runner.run(host, takeLockDir(paths), { stdin: first, allowFailure: true });
    if (made.code === 0) {
      acquiredAt = JSON.parse(first).acquiredAt;
      linked = releaseOfLink(made.stdout);
      break;
    }
    if (made.code !== LOCK_HELD) throw new RemoteCommandError(made);
    const current = await readDetails(runner, host, paths);
    // Break a lock only when its holder let it expire. Without readable details (the holder died
    // between mkdir and writing them), the directory's own age stands in for the expiry.
    const expiresAt = current
      ? new Date(current.expiresAt).getTime()
      : await lockDirExpiry(runner, host, paths, ttlMs);
    const leftOver = who.owner !== undefined && current?.owner === who.owner;
    if (attempt === 0 && (leftOver || expiresAt < now().getTime())) {
      await runner.run(host, removeLockDir(paths));
      continue;
    }
    throw new LockedError(host, stack, current);
  }
  if (!acquiredAt) throw new LockedError(host, stack, await readDetails(runner, host, paths));

  const heartbeat = setInterval(
    () => {
      runner.run(host, writeLockDetails(paths), { stdin: details(), allowFailure: true }).catch(() => {});
    },
    Math.max(1000, ttlMs / 3),
  );
  heartbeat.unref();
  const key = heldKey(host, paths);
  const mine = held.get(runner) ?? new Map<string, HeldLock>();
  held.set(runner, mine);
  const lock: HeldLock = {
    get current() {
      return linked;
    },
    switched(release) {
      linked = release;
    },
    async release() {
      clearInterval(heartbeat);
      if (mine.get(key) === lock) mine.delete(key);
      await runner.run(host, removeLockDir(paths));
    },
  };
  mine.set(key, lock);
  return lock;
}

async function lockDirExpiry(
  runner: Runner,
  host: string,
  paths: StackPaths,
  ttlMs: number,
): Promise<number> {
  const rec = await runner.run(host, lockDirMtime(paths), { allowFailure: true });
  const seconds = Number(rec.stdout.trim());
  return rec.code === 0 && Number.isFinite(seconds) ? seconds * 1000 + ttlMs : Number.POSITIVE_INFINITY;
}

async function readDetails(
  runner: Runner,
  host: string,
  paths: StackPaths,
): Promise<LockDetails | undefined> {
  const rec = await runner.run(host, readLockDetails(paths), { allowFailure: true });
  if (rec.code !== 0) return undefined;
  try {
    const parsed = LockDetails.safeParse(JSON.parse(rec.stdout));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}
