/**
 * Webhook and trigger deliveries are remembered to ignore redeliveries; GitHub redelivers for 3
 * days at most, so older ones are forgotten: once at start, then hourly with expired UI sessions.
 */
import type { Store } from "../state/store.ts";

/** How long a delivery id is remembered (GitHub's redelivery window is 3 days). */
export const DELIVERY_RETENTION_MS = 7 * 24 * 60 * 60_000;

const PRUNE_EVERY_MS = 60 * 60_000;

/** Prunes once (awaited: the start is not ready before), then hourly until stop(). */
export async function startDeliveryPruning(
  store: Pick<Store, "pruneDeliveries" | "pruneSessions" | "procedures">,
): Promise<{ stop(): Promise<void> }> {
  let pruning: Promise<unknown> = Promise.resolve();
  const prune = () => {
    pruning = Promise.all([
      store.pruneDeliveries(DELIVERY_RETENTION_MS),
      store.procedures.pruneTriggerDeliveries(DELIVERY_RETENTION_MS),
    ]).catch((err: unknown) => {
      console.error(`stackpilot: pruning old webhook deliveries failed: ${(err as Error).message}`);
    });
  };
  prune();
  await pruning;
  const pruner = setInterval(() => {
    prune();
    void store.pruneSessions().catch(() => 0);
  }, PRUNE_EVERY_MS).unref();
  return {
    async stop() {
      clearInterval(pruner);
      // A prune under way finishes before the store it writes to is closed.
      await pruning;
    },
  };
}
