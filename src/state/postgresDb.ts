/**
 * A Postgres server through `pg` (DATABASE_URL): the setup for several replicas.
 */
import pg from "pg";
import type { PostgresDb, Queryable, Row } from "./db.ts";

export interface PostgresDbOptions {
  /** Pool size; the queue's pg-boss keeps a pool of its own. */
  maxConnections?: number;
  /** Told about errors on idle connections, which would otherwise crash the process. */
  onError?: (err: Error) => void;
}

export async function openPostgresDb(
  databaseUrl: string,
  options: PostgresDbOptions = {},
): Promise<PostgresDb> {
  const pool = new pg.Pool({
    connectionString: databaseUrl,
    max: options.maxConnections ?? 10,
    application_name: "stackpilot",
  });
  const onError = options.onError ?? ((err) => console.error("stackpilot: postgres connection error:", err));
  let closed = false;
  pool.on("error", (err) => {
    if (!closed) onError(err);
  });
  // Fail at open, not at the first query, when the server is unreachable.
  await pool.query("SELECT 1");
  return {
    kind: "postgres",
    pool,
    databaseUrl,
    query: (sql, params) => query(pool, sql, params),
    exec: (sql) => exec(pool, sql),
    transaction: (fn) => inTransaction(pool, fn),
    close: async () => {
      if (closed) return;
      closed = true;
      await endPool(pool);
    },
  };
}

async function query<T extends Row>(
  client: pg.Pool | pg.PoolClient,
  sql: string,
  params?: readonly unknown[],
): Promise<T[]> {
  return (await client.query<T>(sql, params ? [...params] : undefined)).rows;
}

async function exec(client: pg.Pool | pg.PoolClient, sql: string): Promise<void> {
  await client.query(sql);
}

/** Runs `fn` on one connection between BEGIN and COMMIT, rolling back when it throws. */
async function inTransaction<T>(pool: pg.Pool, fn: (tx: Queryable) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let broken = false;
  try {
    await client.query("BEGIN");
    const tx: Queryable = {
      query: (sql, params) => query(client, sql, params),
      exec: (sql) => exec(client, sql),
    };
    const result = await fn(tx);
    await client.query("COMMIT");
    return result;
  } catch (err) {
    // A connection that cannot even roll back is not given back to the pool.
    await client.query("ROLLBACK").catch(() => {
      broken = true;
    });
    throw err;
  } finally {
    client.release(broken);
  }
}

/**
 * pool.end() resolves before the sockets close; wait for them (briefly), so that a server
 * stopping right after does not find connections still open.
 */
async function endPool(pool: pg.Pool): Promise<void> {
  const open = pool.totalCount;
  let removed = 0;
  const allRemoved = new Promise<void>((resolve) => {
    if (open === 0) resolve();
    pool.on("remove", () => {
      if (++removed >= open) resolve();
    });
  });
  await pool.end();
  await Promise.race([allRemoved, new Promise((r) => setTimeout(r, 1000).unref())]);
}
