/**
 * Runs the state tests on both backends: PGlite in a temp dir and a real Postgres server.
 *
 *   const backends = useStateBackends();
 *   describe.each(backends)("$name", (backend) => { ... await backend.openStore() ... });
 *
 * A new PGlite database costs seconds (initdb in WASM), so one initialized data directory is
 * kept in the temp dir and copied for each new database. Postgres: one server per test file,
 * one CREATE DATABASE per new database.
 */
import { cp, mkdtemp, readFile, rename, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { PGlite } from "@electric-sql/pglite";
import { afterAll, beforeAll } from "vitest";
import { type OpenStoreOptions, openStore, type Store } from "../../src/state/store.ts";
import { type PostgresServer, startPostgres } from "./postgresServer.ts";

export type BackendName = "pglite" | "postgres";

/** Where a store's database lives: what openStore() takes. */
export type StoreLocation = Pick<OpenStoreOptions, "databaseUrl" | "dataDir">;
type StoreSettings = Omit<OpenStoreOptions, "databaseUrl" | "dataDir">;

export interface StateBackend {
  name: BackendName;
  /** A new, empty database. */
  newDatabase(): Promise<StoreLocation>;
  /** Opens (and migrates) a store; a new database unless one is given. Closed after the file's tests. */
  openStore(location?: StoreLocation, settings?: StoreSettings): Promise<Store>;
  /** One store for the whole test file, for tests that keep apart by their own keys and repos. */
  sharedStore(): Promise<Store>;
}

export function useStateBackends(): StateBackend[] {
  let server: PostgresServer | undefined;
  const tempDirs: string[] = [];
  const stores = new Set<Store>();

  beforeAll(async () => {
    server = await startPostgres();
  }, 120_000);

  afterAll(async () => {
    for (const store of stores) await store.close().catch(() => {});
    await server?.stop();
    for (const dir of tempDirs) await rm(dir, { recursive: true, force: true });
  });

  const tempDir = async () => {
    const dir = await mkdtemp(join(tmpdir(), "sp-state-"));
    tempDirs.push(dir);
    return dir;
  };

  const open = async (location: StoreLocation, settings: StoreSettings = {}) => {
    const store = await openStore({ ...location, ...settings });
    const close = store.close;
    stores.add(store);
    store.close = async () => {
      stores.delete(store);
      await close();
    };
    return store;
  };

  const backend = (name: BackendName, newDatabase: () => Promise<StoreLocation>): StateBackend => {
    let shared: Promise<Store> | undefined;
    return {
      name,
      newDatabase,
      openStore: async (location, settings) => open(location ?? (await newDatabase()), settings),
      sharedStore: () => {
        shared ??= newDatabase().then((location) => open(location));
        return shared;
      },
    };
  };

  return [
    backend("pglite", async () => {
      const dataDir = await tempDir();
      await cp(await pgliteTemplate(), join(dataDir, "pglite"), { recursive: true });
      return { dataDir };
    }),
    backend("postgres", async () => {
      if (!server) throw new Error("postgres server not started (useStateBackends() must run at file level)");
      return { databaseUrl: await server.createDatabase(), dataDir: await tempDir() };
    }),
  ];
}

/** An initialized, empty PGlite data directory, made once per PGlite version and reused. */
async function pgliteTemplate(): Promise<string> {
  const pkg = fileURLToPath(new URL("../../node_modules/@electric-sql/pglite/package.json", import.meta.url));
  const { version } = JSON.parse(await readFile(pkg, "utf8")) as { version: string };
  const template = join(tmpdir(), `sp-pglite-template-${version}`);
  if (await exists(join(template, "PG_VERSION"))) return template;
  // Built aside and renamed into place, so a concurrent test file never sees a half-made one.
  const building = await mkdtemp(join(tmpdir(), "sp-pglite-building-"));
  const db = await PGlite.create(join(building, "data"));
  await db.close();
  await rename(join(building, "data"), template).catch(() => {}); // another file won the race
  await rm(building, { recursive: true, force: true });
  return template;
}

async function exists(path: string): Promise<boolean> {
  return readFile(path).then(
    () => true,
    () => false,
  );
}
