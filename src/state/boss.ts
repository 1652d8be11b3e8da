/**
 * One pg-boss per process, on the store's database, shared by every queue (deploys, GitHub
 * events): one schema, one maintenance loop, one connection pool.
 */
import { fromPglite, PgBoss } from "pg-boss";
import type { Store } from "./store.ts";

/**
 * How often pg-boss looks for jobs whose worker stopped heartbeating (and for expired ones): with
 * the queue's heartbeat (github/jobQueue.ts), a job of a process that died is retried within a
 * minute. Its default is a minute on its own.
 */
const MONITOR_SECONDS = 10;

export async function startBoss(
  store: Store,
  opts: { max?: number; onError?: (err: unknown) => void } = {},
): Promise<PgBoss> {
  const db = store.db;
  const ops = { superviseIntervalSeconds: MONITOR_SECONDS, monitorIntervalSeconds: MONITOR_SECONDS };
  // pg-boss's PGlite adapter: statements with parameters go through query(), the rest (its
  // multi-statement DDL and locked blocks) through exec(), rolling back a failed transaction.
  const boss =
    db.kind === "pglite"
      ? new PgBoss({ db: fromPglite(db.pglite), backend: "pglite", ...ops })
      : new PgBoss({
          connectionString: db.databaseUrl,
          max: opts.max ?? 10,
          application_name: "stackpilot-queue",
          ...ops,
        });
  boss.on("error", opts.onError ?? ((err: unknown) => console.error("stackpilot queue:", err)));
  await boss.start();
  return boss;
}
