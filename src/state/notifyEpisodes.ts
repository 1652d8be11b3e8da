/**
 * Notification episodes: per (topic, target), whether a failure is open, what was last sent and
 * when. The decision is the caller's (pure, notify/dedupe.ts); this runs it on the row under a row
 * lock, so replicas sharing a database never both send one alert.
 */
import type { Db } from "./db.ts";
import { toDate, toDateOrNull, toStringOrNull } from "./db.ts";
import type { DeployTarget } from "./deployments.ts";

export interface EpisodeKey extends DeployTarget {
  /** What fails: `deploy`, `drift`, `heal`. */
  topic: string;
}

export interface Episode {
  open: boolean;
  signature: string | null;
  openedAt: Date | null;
  lastSentAt: Date | null;
}

/**
 * Reads the episode (closed when there is none), lets `decide` say what it becomes, writes that,
 * all in one transaction holding the row; `now` is the database's clock.
 */
export async function updateEpisode<T>(
  db: Db,
  key: EpisodeKey,
  decide: (prev: Episode, now: Date) => { next: Episode; result: T },
): Promise<T> {
  const params = [key.topic, key.repo, key.stack, key.host];
  return db.transaction(async (tx) => {
    await tx.query(
      "INSERT INTO notify_episodes (topic, repo, stack, host) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
      params,
    );
    const [row] = await tx.query(
      `SELECT open, signature, opened_at, last_sent_at, now() AS now FROM notify_episodes
        WHERE topic = $1 AND repo = $2 AND stack = $3 AND host = $4 FOR UPDATE`,
      params,
    );
    if (!row) throw new Error(`notification episode ${key.topic} of ${key.stack} on ${key.host} vanished`);
    const prev: Episode = {
      open: row.open === true,
      signature: toStringOrNull(row.signature),
      openedAt: toDateOrNull(row.opened_at),
      lastSentAt: toDateOrNull(row.last_sent_at),
    };
    const { next, result } = decide(prev, toDate(row.now));
    await tx.query(
      `UPDATE notify_episodes SET open = $5, signature = $6, opened_at = $7, last_sent_at = $8
        WHERE topic = $1 AND repo = $2 AND stack = $3 AND host = $4`,
      [...params, next.open, next.signature, next.openedAt, next.lastSentAt],
    );
    return result;
  });
}
