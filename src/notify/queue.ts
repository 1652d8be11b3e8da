/**
 * Delivery of notifications: its own durable queue on the shared pg-boss, so a message survives a
 * restart and any replica may send it; a failed delivery is retried with backoff (5 times, from
 * 10 s), a permanent failure (a 4xx, a bad URL) is not. The job carries the channel's name and the
 * message, never a URL or a secret: those are read from the hosts file when sending.
 */
import type { PgBoss } from "pg-boss";
import type { NotificationChannel } from "../config/notifications.ts";
import type { Store } from "../state/store.ts";
import { DeliveryError, deliver } from "./deliver.ts";
import { type Dispatch, Notifier, type Outgoing } from "./notifier.ts";

export const NOTIFY_QUEUE = "stackpilot-notify";
export const NOTIFY_RETRY_LIMIT = 5;

export interface DeliveryLog {
  info(msg: string): void;
  error(msg: string): void;
}

/**
 * Sends one message to its channel; a channel removed from the hosts file since is dropped. Throws
 * what is worth retrying; a permanent failure, or the last attempt's, is logged at error level.
 */
export function deliveryWorker(
  channels: readonly NotificationChannel[],
  log: DeliveryLog,
  send: typeof deliver = deliver,
) {
  return async (job: Outgoing, attempt: number, lastAttempt: number): Promise<void> => {
    const channel = channels.find((c) => c.name === job.channel);
    if (!channel) {
      log.info(`notification to ${job.channel} dropped: no such channel in the hosts file any more`);
      return;
    }
    try {
      await send(channel, job.message);
    } catch (err) {
      const permanent = err instanceof DeliveryError ? err.permanent : false;
      const message = err instanceof Error ? err.message : String(err);
      if (permanent || attempt >= lastAttempt) {
        log.error(
          `notification (${job.message.event} of ${job.message.stack} on ${job.message.host}) not delivered${permanent ? "" : ` after ${attempt + 1} attempts`}: ${message}`,
        );
        return;
      }
      throw err;
    }
  };
}

export async function startNotifyQueue(
  boss: PgBoss,
  work: ReturnType<typeof deliveryWorker>,
): Promise<Dispatch & { stop(): Promise<void> }> {
  const settings = {
    retryLimit: NOTIFY_RETRY_LIMIT,
    retryDelay: 10,
    retryBackoff: true,
    expireInSeconds: 120,
  };
  await boss.createQueue(NOTIFY_QUEUE, settings);
  await boss.updateQueue(NOTIFY_QUEUE, settings);
  await boss.work<Outgoing>(NOTIFY_QUEUE, { batchSize: 1, localConcurrency: 2 }, async ([j]) => {
    if (!j) return;
    await work(j.data, (j as { retryCount?: number }).retryCount ?? 0, NOTIFY_RETRY_LIMIT);
  });
  return {
    async send(job) {
      await boss.send(NOTIFY_QUEUE, job);
    },
    async stop() {
      await boss.offWork(NOTIFY_QUEUE, { wait: true });
    },
  };
}

/**
 * Without a queue (tests): delivered in the background, retried `retries` times with doubling
 * delays from `backoffMs`; `send` returns at once.
 */
export function inProcessDispatch(
  work: ReturnType<typeof deliveryWorker>,
  opts: { retries?: number; backoffMs?: number } = {},
): Dispatch & { idle(): Promise<void> } {
  const pending = new Set<Promise<void>>();
  const retries = opts.retries ?? 3;
  return {
    async send(job) {
      const p = (async () => {
        for (let attempt = 0; ; attempt++) {
          try {
            return await work(job, attempt, retries);
          } catch {
            await new Promise((r) => setTimeout(r, (opts.backoffMs ?? 1_000) * 2 ** attempt));
          }
        }
      })().finally(() => pending.delete(p));
      pending.add(p);
    },
    async idle() {
      while (pending.size) await Promise.all([...pending]);
    },
  };
}

/**
 * The App's notifications: a notifier over the hosts file's channels, delivering through the
 * durable queue (none is started without channels). `stop` waits for what was told to be queued.
 */
export async function startNotifications(
  boss: PgBoss,
  store: Pick<Store, "updateEpisode">,
  channels: readonly NotificationChannel[],
  log: DeliveryLog & { warn(msg: string): void },
): Promise<{ notifier: Notifier; stop(): Promise<void> }> {
  const queue = channels.length ? await startNotifyQueue(boss, deliveryWorker(channels, log)) : undefined;
  const notifier = new Notifier({ channels, store, dispatch: queue ?? { send: async () => {} }, log });
  return {
    notifier,
    async stop() {
      await notifier.flush();
      await queue?.stop();
    },
  };
}
