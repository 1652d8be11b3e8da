/**
 * The one thing the state layer needs from a database: run SQL, in or out of a transaction.
 * Two backends run the same SQL: embedded PGlite (one process, a data directory) and a
 * Postgres server through `pg` (several replicas can share it).
 */
import type { PGlite } from "@electric-sql/pglite";
import type { Pool } from "pg";

export type Row = Record<string, unknown>;

export interface Queryable {
  /** One statement, `$1`-style parameters; returns its rows. */
  query<T extends Row = Row>(sql: string, params?: readonly unknown[]): Promise<T[]>;
  /** Several statements separated by semicolons, no parameters (migrations). */
  exec(sql: string): Promise<void>;
}

interface DbBase extends Queryable {
  /** Runs fn on one connection inside BEGIN/COMMIT; rolls back and rethrows if fn throws. */
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

export interface PgliteDb extends DbBase {
  readonly kind: "pglite";
  readonly pglite: PGlite;
  readonly dataDir: string;
}

export interface PostgresDb extends DbBase {
  readonly kind: "postgres";
  readonly pool: Pool;
  readonly databaseUrl: string;
}

export type Db = PgliteDb | PostgresDb;

/** `pg` returns int8 as a string, PGlite as a number: callers get numbers either way. */
export function toNumber(value: unknown): number {
  return typeof value === "number" ? value : Number(value);
}

export function toDate(value: unknown): Date {
  return value instanceof Date ? value : new Date(String(value));
}

export function toDateOrNull(value: unknown): Date | null {
  return value === null || value === undefined ? null : toDate(value);
}

export function toStringOrNull(value: unknown): string | null {
  return value === null || value === undefined ? null : String(value);
}
