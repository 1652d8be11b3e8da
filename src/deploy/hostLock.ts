/**
 * The (stack, host) lock directory. Acquired with an atomic rename (commands/lock.ts), in the same
 * round trip that reads where `current` points; the holder refreshes its expiry while it works, so
 * a lock left by a dead deployer can be broken once it expires, and never sooner.
 *
 * Each acquisition has its own nonce (a fencing token, in the lock directory): the holder runs
 * every command that changes the target through `fence`, so once its lock is broken (it expired
 * while the holder was cut off, or the holder lost its database lock and stopped heartbeating) its
 * later commands fail on the host instead of acting on a target someone else now deploys.
 */
import { randomBytes } from "node:crypto";
import { posix } from "node:path";
import {
  fenced,
  LOCK_HELD,
  LOCK_LOST,
  LockDetails,
  lockDirMtime,
  readLockDetails,
  removeLockDir,
  takeLockDir,
  thenUnlock,
  writeLockDetails,
} from "./commands/lock.ts";
import type { StackPaths } from "./commands/paths.ts";
import { type CommandRecord, RemoteCommandError, type Runner } from "./runner.ts";
import type { Argv } from "./shell.ts";

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
  /** This acquisition's fencing token. */
  readonly nonce: string;
  /** `argv`, run only while this lock is still ours (see commands/lock.ts `fenced`). */
  fence(argv: Argv): Argv;
  /**
   * The holder's last command and the release of the lock in one round trip (`thenUnlock`): fails
   * like `argv`; the lock is released once the host answered, whatever `argv` did.
   */
  releaseAfter(argv: Argv): Promise<CommandRecord>;
  /** Releases the lock (a no-op once `releaseAfter` did). */
  release(): Promise<void>;
}

export interface HostLockOptions {
  /** Stops the heartbeat: a holder that lost its database lock lets the host lock lapse. */
  signal?: AbortSignal;
  /** Polling while waiting for a lock of our own installation to be released or to lapse. */
  pollMs?: number;
  now?: () => Date;
}

/** `readlink current` output -> release id. */
export const releaseOfLink = (target: string): string | undefined =>
  posix.basename(target.trim()) || undefined;

/**
 * Take the lock. A lock another installation holds is refused at once (LockedError). One of our
 * own installation can only be an attempt that died or is stopping (the caller holds the database
 * lock of the target): it is waited for until its holder releases it or stops heartbeating and it
 * expires, so two deploys of one installation never overlap on a host. An expired lock is broken.
 */
export async function acquireHostLock(
  runner: Runner,
  host: string,
  stack: string,
  paths: StackPaths,
  who: { holder: string; commit: string; owner?: string },
  ttlMs: number,
  opts: HostLockOptions = {},
): Promise<HeldLock> {
  const now = opts.now ?? (() => new Date());
  const a: Acquisition = {
    runner,
    host,
    stack,
    paths,
    nonce: randomBytes(8).toString("hex"),
    who,
    ttlMs,
    details: (acquiredAt) => {
      const at = now();
      return JSON.stringify({
        ...who,
        acquiredAt: acquiredAt ?? at.toISOString(),
        expiresAt: new Date(at.getTime() + ttlMs).toISOString(),
      });
    },
  };
  const taken = await takeLock(a, opts, now);
  const heartbeat = startHeartbeat(a, taken.acquiredAt, opts.signal);
  return heldLock(a, taken.current, heartbeat);
}

/** One acquisition of the lock: where, by whom, and its nonce. */
interface Acquisition {
  runner: Runner;
  host: string;
  stack: string;
  paths: StackPaths;
  nonce: string;
  who: { holder: string; commit: string; owner?: string };
  ttlMs: number;
  /** The lock's details (JSON), expiring one ttl from now; `acquiredAt` stays that of the take. */
  details(acquiredAt?: string): string;
}

/**
 * Makes the lock directory, breaking an expired lock once per attempt and waiting for one of our
 * own installation (acquireHostLock); returns when it was taken and where `current` pointed.
 */
async function takeLock(
  a: Acquisition,
  opts: HostLockOptions,
  now: () => Date,
): Promise<{ acquiredAt: string; current: string | undefined }> {
  const { runner, host, paths } = a;
  // Our own installation's lock lapses within one ttl of its holder stopping; a little more for clocks.
  const waitUntil = Date.now() + a.ttlMs + 5_000;
  for (let broke = false; ; ) {
    const first = a.details();
    const made = await runner.run(host, takeLockDir(paths, a.nonce), { stdin: first, allowFailure: true });
    if (made.code === 0)
      return { acquiredAt: JSON.parse(first).acquiredAt, current: releaseOfLink(made.stdout) };
    if (made.code !== LOCK_HELD) throw new RemoteCommandError(made);
    const current = await readDetails(runner, host, paths);
    // Without readable details (an older holder died between mkdir and writing them), the
    // directory's own age stands in for the expiry.
    const expiresAt = current
      ? new Date(current.expiresAt).getTime()
      : await lockDirExpiry(runner, host, paths, a.ttlMs);
    if (expiresAt < now().getTime() && !broke) {
      await runner.run(host, removeLockDir(paths));
      broke = true;
      continue;
    }
    const ours = a.who.owner !== undefined && current?.owner === a.who.owner;
    if (!ours || Date.now() >= waitUntil || opts.signal?.aborted)
      throw new LockedError(host, a.stack, current);
    await new Promise((r) => setTimeout(r, opts.pollMs ?? 1_000));
    broke = false;
  }
}

/** Refreshes the lock's expiry every third of its ttl, fenced, until stopped or `signal` aborts. */
function startHeartbeat(
  a: Acquisition,
  acquiredAt: string,
  signal: AbortSignal | undefined,
): ReturnType<typeof setInterval> {
  const heartbeat = setInterval(
    () => {
      if (signal?.aborted) {
        clearInterval(heartbeat);
        return;
      }
      a.runner
        .run(a.host, fenced(a.paths, a.nonce, writeLockDetails(a.paths)), {
          stdin: a.details(acquiredAt),
          allowFailure: true,
        })
        .catch(() => {});
    },
    Math.max(1000, a.ttlMs / 3),
  );
  heartbeat.unref();
  return heartbeat;
}

/** The holder's handle of the lock it took: fencing, and release (alone or after a last command). */
function heldLock(
  a: Acquisition,
  current: string | undefined,
  heartbeat: ReturnType<typeof setInterval>,
): HeldLock {
  const { runner, host, paths, nonce } = a;
  let released = false;
  return {
    current,
    nonce,
    fence: (argv) => fenced(paths, nonce, argv),
    async releaseAfter(argv) {
      clearInterval(heartbeat);
      const rec = await runner.run(host, fenced(paths, nonce, thenUnlock(paths, argv)), {
        allowFailure: true,
      });
      // Unless the lock was no longer ours (then nothing ran, and there is nothing to release).
      released = rec.code !== LOCK_LOST;
      if (rec.code !== 0) throw new RemoteCommandError(rec);
      return rec;
    },
    async release() {
      clearInterval(heartbeat);
      if (released) return;
      // Only if it is still ours: a lock broken meanwhile belongs to its new holder.
      await runner.run(host, fenced(paths, nonce, removeLockDir(paths)), { allowFailure: true });
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
