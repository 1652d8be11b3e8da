import { type Db, toNumber } from "./db.ts";
import { MIGRATIONS, type Migration } from "./migrations/index.ts";

/**
 * Key of the advisory lock that serializes migrate() across processes: two replicas starting
 * at once would otherwise both see a migration as pending and both apply it.
 */
const MIGRATION_LOCK_KEY = 7_301_190_411;

/**
 * Applies the migrations the database lacks, all in one transaction, and records them.
 * Returns the versions it applied (empty when the schema was current).
 */
export async function migrate(db: Db, migrations: readonly Migration[] = MIGRATIONS): Promise<number[]> {
  assertAscending(migrations);
  return db.transaction(async (tx) => {
    // Transaction-scoped: released by COMMIT or ROLLBACK, so a crash cannot leave it held.
    await tx.query("SELECT pg_advisory_xact_lock($1)", [MIGRATION_LOCK_KEY]);
    await tx.exec(`
      CREATE TABLE IF NOT EXISTS stackpilot_migrations (
        version    integer PRIMARY KEY,
        name       text NOT NULL,
        applied_at timestamptz NOT NULL DEFAULT now()
      )`);
    const rows = await tx.query("SELECT version FROM stackpilot_migrations");
    const applied = new Set(rows.map((r) => toNumber(r.version)));
    const appliedNow: number[] = [];
    for (const migration of migrations) {
      if (applied.has(migration.version)) continue;
      await tx.exec(migration.sql);
      await tx.query("INSERT INTO stackpilot_migrations (version, name) VALUES ($1, $2)", [
        migration.version,
        migration.name,
      ]);
      appliedNow.push(migration.version);
    }
    return appliedNow;
  });
}

export async function appliedMigrations(db: Db): Promise<{ version: number; name: string }[]> {
  const rows = await db.query("SELECT version, name FROM stackpilot_migrations ORDER BY version");
  return rows.map((r) => ({ version: toNumber(r.version), name: String(r.name) }));
}

function assertAscending(migrations: readonly Migration[]): void {
  for (let i = 1; i < migrations.length; i++) {
    const [prev, cur] = [migrations[i - 1], migrations[i]];
    if (prev && cur && cur.version <= prev.version) {
      throw new Error(
        `migrations out of order: ${prev.version} (${prev.name}) before ${cur.version} (${cur.name})`,
      );
    }
  }
}
