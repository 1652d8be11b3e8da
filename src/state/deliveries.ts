/**
 * GitHub redelivers webhooks (timeouts, manual redelivery); each delivery id is handled once.
 */
import type { Queryable } from "./db.ts";

/** True only for the first call with this delivery id; of concurrent duplicates exactly one wins. */
export async function recordDelivery(db: Queryable, deliveryId: string, event: string): Promise<boolean> {
  // The primary key decides: a concurrent insert of the same id waits for the first and then does nothing.
  const rows = await db.query(
    "INSERT INTO webhook_deliveries (delivery_id, event) VALUES ($1, $2) ON CONFLICT (delivery_id) DO NOTHING RETURNING delivery_id",
    [deliveryId, event],
  );
  return rows.length === 1;
}

/** Forgets deliveries older than maxAgeMs (GitHub does not redeliver old ones); returns how many. */
export async function pruneDeliveries(db: Queryable, maxAgeMs: number): Promise<number> {
  const rows = await db.query(
    "DELETE FROM webhook_deliveries WHERE received_at < now() - $1 * interval '1 millisecond' RETURNING delivery_id",
    [maxAgeMs],
  );
  return rows.length;
}

/** Undo recordDelivery when the work could not be queued, so a redelivery is not mistaken for a duplicate. */
export async function forgetDelivery(db: Queryable, deliveryId: string): Promise<void> {
  await db.query("DELETE FROM webhook_deliveries WHERE delivery_id = $1", [deliveryId]);
}
