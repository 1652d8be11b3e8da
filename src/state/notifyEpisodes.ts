/**
 * Notification episodes: per (channel, topic, target), whether a failure is open and when it was
 * last sent. The decision is the caller's (pure, notify/dedupe.ts); this runs it on the row under a row
 * lock, so replicas sharing a database never both send one alert.
 */
import type { Db } from "./db.ts";
import { toDate, toDateOrNull } from "./db.ts";
import type { DeployTarget } from "./deployments.ts";

export interface EpisodeKey extends DeployTarget {
  /** The notification channel's name (each has its own events and reminder interval). */
  channel: string;
  /** What fails: `deploy`, `drift`, `heal`, `heal_given_up`. */
  topic: string;
}

export interface Episode {
  open: boolean;
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
  const params = [key.channel, key.topic, key.repo, key.stack, key.host];
  return db.transaction(async (tx) => {
    await tx.query(
      "INSERT INTO notify_episodes (channel, topic, repo, stack, host) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
      params,
    );
    const [row] = await tx.query(
      `SELECT open, opened_at, last_sent_at, now() AS now FROM notify_episodes
        WHERE channel = $1 AND topic = $2 AND repo = $3 AND stack = $4 AND host = $5 FOR UPDATE`,
      params,
    );
    if (!row) throw new Error(`notification episode ${key.topic} of ${key.stack} on ${key.host} is missing`);
    const prev: Episode = {
      open: row.open === true,
      openedAt: toDateOrNull(row.opened_at),
      lastSentAt: toDateOrNull(row.last_sent_at),
    };
    const { next, result } = decide(prev, toDate(row.now));
    await tx.query(
      `UPDATE notify_episodes SET open = $6, opened_at = $7, last_sent_at = $8
        WHERE channel = $1 AND topic = $2 AND repo = $3 AND stack = $4 AND host = $5`,
      [...params, next.open, next.openedAt, next.lastSentAt],
    );
    return result;
  });
}
