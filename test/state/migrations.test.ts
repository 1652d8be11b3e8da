import { describe, expect, it } from "vitest";
import type { Db } from "../../src/state/db.ts";
import { appliedMigrations, migrate } from "../../src/state/migrate.ts";
import { MIGRATIONS, type Migration } from "../../src/state/migrations/index.ts";
import { openDatabase } from "../../src/state/store.ts";
import { type StateBackend, type StoreLocation, useStateBackends } from "../helpers/stateBackends.ts";

const backends = useStateBackends();

const deployment = {
  repo: "acme/infra",
  stack: "web",
  host: "h1",
  commit: "a".repeat(40),
  fingerprint: `sha256:${"0".repeat(64)}`,
  actor: "alice",
  trigger: "merge" as const,
};

async function tableNames(db: Db): Promise<string[]> {
  const rows = await db.query<{ table_name: string }>(
    "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name",
  );
  return rows.map((r) => r.table_name);
}

/** Separate connections to one database: two Postgres pools, or the one PGlite (single process). */
async function openConnections(backend: StateBackend, location: StoreLocation, count: number): Promise<Db[]> {
  if (backend.name === "pglite") {
    const db = await openDatabase(location);
    return Array.from({ length: count }, () => db);
  }
  return Promise.all(Array.from({ length: count }, () => openDatabase(location)));
}

async function closeAll(dbs: Db[]): Promise<void> {
  for (const db of new Set(dbs)) await db.close();
}

describe.each(backends)("migrations on $name", (backend) => {
  it("creates every table on a new database and records the applied versions", async () => {
    const store = await backend.openStore();
    expect(await tableNames(store.db)).toEqual([
      "builds",
      "deployed",
      "deployment_logs",
      "deployment_sources",
      "deployments",
      "drift_checks",
      "hook_runs",
      "locks",
      "notify_episodes",
      "procedure_runs",
      "procedure_schedule_fires",
      "procedure_schedules",
      "procedure_steps",
      "rollouts",
      "source_uses",
      "stackpilot_migrations",
      "stopped_stacks",
      "target_last",
      "trigger_deliveries",
      "ui_sessions",
      "webhook_deliveries",
    ]);
    expect(await appliedMigrations(store.db)).toEqual(
      MIGRATIONS.map(({ version, name }) => ({ version, name })),
    );
    await store.close();
  });

  it("applies nothing on a second run and keeps the data", async () => {
    const location = await backend.newDatabase();
    const store = await backend.openStore(location);
    const id = await store.createDeployment(deployment);
    expect(await migrate(store.db)).toEqual([]);
    await store.close();

    const reopened = await backend.openStore(location);
    expect((await reopened.getDeployment(id))?.commit).toBe(deployment.commit);
    expect(await appliedMigrations(reopened.db)).toHaveLength(MIGRATIONS.length);
    await reopened.close();
  });

  it("applies each migration exactly once when replicas migrate at the same time", async () => {
    const location = await backend.newDatabase();
    const dbs = await openConnections(backend, location, 4);
    try {
      // The initial migration's CREATE TABLEs would fail if two replicas both applied it.
      const results = await Promise.all(dbs.map((db) => migrate(db)));
      expect(results.flat().sort((a, b) => a - b)).toEqual(MIGRATIONS.map((m) => m.version));
      expect(results.filter((r) => r.length > 0)).toHaveLength(1);
      expect(await appliedMigrations(dbs[0] as Db)).toHaveLength(MIGRATIONS.length);
    } finally {
      await closeAll(dbs);
    }
  });

  it("rolls back a failing migration completely, recording nothing", async () => {
    const location = await backend.newDatabase();
    const [db] = await openConnections(backend, location, 1);
    if (!db) throw new Error("no connection");
    const broken: Migration = {
      version: 9999,
      name: "broken",
      sql: "CREATE TABLE half_done (x int); SELECT * FROM no_such_table;",
    };
    try {
      await expect(migrate(db, [...MIGRATIONS, broken])).rejects.toThrow(/no_such_table/);
      // One transaction for all pending migrations: not even the good ones stay.
      expect(await tableNames(db)).toEqual([]);
      expect(await migrate(db)).toEqual(MIGRATIONS.map((m) => m.version));
      expect(await tableNames(db)).not.toContain("half_done");
    } finally {
      await db.close();
    }
  });

  it("refuses migrations listed out of order", async () => {
    const location = await backend.newDatabase();
    const db = await openDatabase(location);
    const [first] = MIGRATIONS;
    if (!first) throw new Error("no migrations");
    try {
      await expect(migrate(db, [{ ...first, version: 2 }, first])).rejects.toThrow(/out of order/);
    } finally {
      await db.close();
    }
  });
});
