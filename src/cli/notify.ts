/**
 * Notifications from CLI deploys and rollbacks: the same notifier and channels as the App (the
 * hosts file's `notifications:`), its failure episodes in the same database (so the App and the CLI
 * agree on what was already told), delivered from this process. A CLI has no durable queue to
 * leave work in, so on exit it waits a bounded time for deliveries and says which it gave up on.
 */
import type { NotificationChannel } from "../config/notifications.ts";
import { Notifier } from "../notify/notifier.ts";
import { deliveryWorker, inProcessDispatch } from "../notify/queue.ts";
import type { Store } from "../state/store.ts";

/** How long a CLI waits at exit for notifications still being delivered (retries included). */
export const CLI_NOTIFY_WAIT_MS = 20_000;

export interface CliNotifications {
  notifier: Pick<Notifier, "emit">;
  /** Waits for what was told to be delivered, at most `waitMs`; never throws. */
  finish(): Promise<void>;
}

export function cliNotifications(
  channels: readonly NotificationChannel[],
  store: Pick<Store, "updateEpisode">,
  err: (line: string) => void,
  waitMs = CLI_NOTIFY_WAIT_MS,
): CliNotifications {
  const log = {
    info: (m: string) => err(`${m}\n`),
    warn: (m: string) => err(`warning: ${m}\n`),
    error: (m: string) => err(`error: ${m}\n`),
  };
  const dispatch = inProcessDispatch(deliveryWorker(channels, log), { retries: 2, backoffMs: 1_000 });
  const notifier = new Notifier({ channels, store, dispatch, log });
  return {
    notifier,
    async finish() {
      if (channels.length === 0) return;
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<"late">((r) => {
        timer = setTimeout(() => r("late"), waitMs);
      });
      const done = (async () => {
        await notifier.flush();
        await dispatch.idle();
        return "done" as const;
      })();
      const outcome = await Promise.race([done, late]).finally(() => clearTimeout(timer));
      if (outcome === "late")
        log.warn(`notifications still being delivered after ${waitMs / 1000} s were given up on`);
    },
  };
}
