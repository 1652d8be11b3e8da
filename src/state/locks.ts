/**
 * Leases in the database: a lock has a holder and an expiry that the holder keeps pushing out
 * with heartbeats. A holder that dies stops heartbeating, so its lock expires and can be taken
 * over; nothing has to notice the death. Times are the database's, so replicas' clocks don't matter.
 */
import { type Queryable, type Row, toDate } from "./db.ts";

export type LockDetails = Record<string, unknown>;

export interface LockInfo {
  key: string;
  holder: string;
  acquiredAt: Date;
  heartbeatAt: Date;
  expiresAt: Date;
  details: LockDetails;
  /** Past its expiry: the holder stopped heartbeating and anyone may take it over. */
  expired: boolean;
}

export class LockBusyError extends Error {
  readonly lock: LockInfo | undefined;
  constructor(key: string, lock: LockInfo | undefined) {
    super(
      lock ? `${key} is locked by ${lock.holder} until ${lock.expiresAt.toISOString()}` : `${key} is locked`,
    );
    this.name = "LockBusyError";
    this.lock = lock;
  }
}

export class LockLostError extends Error {
  constructor(key: string, cause?: unknown) {
    super(`lost the lock ${key}`, cause === undefined ? undefined : { cause });
    this.name = "LockLostError";
  }
}

/**
 * Takes the lock if it is free or expired, in one statement so two contenders cannot both win.
 * Not re-entrant: a holder that already has it gets false like anyone else.
 */
export async function acquireLock(
  db: Queryable,
  key: string,
  holder: string,
  ttlMs: number,
  details: LockDetails = {},
): Promise<boolean> {
  const rows = await db.query(
    `INSERT INTO locks (key, holder, acquired_at, heartbeat_at, expires_at, details)
     VALUES ($1, $2, now(), now(), now() + $3 * interval '1 millisecond', $4::text::jsonb)
     ON CONFLICT (key) DO UPDATE
       SET holder = excluded.holder, acquired_at = excluded.acquired_at, heartbeat_at = excluded.heartbeat_at,
           expires_at = excluded.expires_at, details = excluded.details
       WHERE locks.expires_at <= now()
     RETURNING key`,
    [key, holder, ttlMs, JSON.stringify(details)],
  );
  return rows.length === 1;
}

/**
 * Extends the lock by ttlMs from now. False when the holder no longer has it: an expired lock is
 * not revived, because others may already have treated its holder as dead.
 */
export async function heartbeatLock(
  db: Queryable,
  key: string,
  holder: string,
  ttlMs: number,
): Promise<boolean> {
  const rows = await db.query(
    `UPDATE locks SET heartbeat_at = now(), expires_at = now() + $3 * interval '1 millisecond'
      WHERE key = $1 AND holder = $2 AND expires_at > now()
      RETURNING key`,
    [key, holder, ttlMs],
  );
  return rows.length === 1;
}

/** Releases the lock if this holder has it; false otherwise. */
export async function releaseLock(db: Queryable, key: string, holder: string): Promise<boolean> {
  const rows = await db.query("DELETE FROM locks WHERE key = $1 AND holder = $2 RETURNING key", [
    key,
    holder,
  ]);
  return rows.length === 1;
}

/** Removes the lock whoever holds it (the `/unlock` command); its holder finds out at its next heartbeat. */
export async function forceUnlock(db: Queryable, key: string): Promise<boolean> {
  const rows = await db.query("DELETE FROM locks WHERE key = $1 RETURNING key", [key]);
  return rows.length === 1;
}

export async function getLock(db: Queryable, key: string): Promise<LockInfo | undefined> {
  const [row] = await db.query("SELECT *, expires_at <= now() AS expired FROM locks WHERE key = $1", [key]);
  return row ? toLockInfo(row) : undefined;
}

export async function listLocks(db: Queryable): Promise<LockInfo[]> {
  const rows = await db.query("SELECT *, expires_at <= now() AS expired FROM locks ORDER BY key");
  return rows.map(toLockInfo);
}

/**
 * Runs fn while holding an already acquired lock: heartbeats every ttl/3, aborts fn's signal when
 * the lock is lost (taken over, force-unlocked, or heartbeats failing until it expires), and
 * releases it when fn settles.
 */
export async function holdLock<T>(
  db: Queryable,
  key: string,
  holder: string,
  ttlMs: number,
  fn: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  const lost = new AbortController();
  const intervalMs = Math.max(1, Math.floor(ttlMs / 3));
  let lastBeat = Date.now();
  let beating: Promise<void> = Promise.resolve();
  const beat = async () => {
    if (lost.signal.aborted) return;
    try {
      if (await heartbeatLock(db, key, holder, ttlMs)) lastBeat = Date.now();
      else lost.abort(new LockLostError(key));
    } catch (err) {
      // One failed heartbeat (a database blip) is survivable; one more miss would let it expire.
      if (Date.now() - lastBeat >= ttlMs - intervalMs) lost.abort(new LockLostError(key, err));
    }
  };
  const timer = setInterval(() => {
    beating = beating.then(beat);
  }, intervalMs);
  // A lost lock stays lost (expired locks are not revived): no point beating on.
  lost.signal.addEventListener("abort", () => clearInterval(timer), { once: true });
  try {
    return await fn(lost.signal);
  } finally {
    clearInterval(timer);
    await beating;
    // Deletes nothing if someone else holds it by now; if the database is gone, expiry frees it.
    await releaseLock(db, key, holder).catch(() => false);
  }
}

/** How long and how often a busy lock is waited for. */
export interface LockWait {
  pollMs: number;
  maxMs: number;
}

/**
 * Runs fn under the lock, waiting while another holder has it (polling, up to `wait.maxMs`; then
 * the LockBusyError is thrown). Between polls `between` may end the wait with a result of its own.
 */
export async function withLockWaiting<T>(
  locks: {
    withLock<R>(
      key: string,
      holder: string,
      ttlMs: number,
      fn: (signal: AbortSignal) => Promise<R>,
    ): Promise<R>;
  },
  lock: { key: string; holder: string; ttlMs: number; wait: LockWait },
  fn: (signal: AbortSignal) => Promise<T>,
  between?: () => Promise<T | undefined>,
): Promise<T> {
  const started = Date.now();
  for (;;) {
    try {
      return await locks.withLock(lock.key, lock.holder, lock.ttlMs, fn);
    } catch (err) {
      if (!(err instanceof LockBusyError) || Date.now() - started >= lock.wait.maxMs) throw err;
    }
    const result = await between?.();
    if (result !== undefined) return result;
    await new Promise((r) => setTimeout(r, lock.wait.pollMs));
  }
}

function toLockInfo(row: Row): LockInfo {
  return {
    key: String(row.key),
    holder: String(row.holder),
    acquiredAt: toDate(row.acquired_at),
    heartbeatAt: toDate(row.heartbeat_at),
    expiresAt: toDate(row.expires_at),
    details: (row.details ?? {}) as LockDetails,
    expired: row.expired === true,
  };
}
