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
   * none). Under the lock only the holder switches `current`, so until it does, this is what the
   * host runs, without asking it again.
   */
  readonly current: string | undefined;
  release(): Promise<void>;
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
  return {
    current: linked,
    async release() {
      clearInterval(heartbeat);
      await runner.run(host, removeLockDir(paths));
    },
  };
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
