/**
 * Embedded Postgres (PGlite, WASM) in a data directory: the single-process setup, no server.
 */
import { mkdir, open, readFile, rm } from "node:fs/promises";
import { dirname } from "node:path";
import { setFlagsFromString } from "node:v8";
import { PGlite, type Transaction } from "@electric-sql/pglite";
import type { PgliteDb, Queryable, Row } from "./db.ts";
import { DEFAULT_TEMPLATE, seedFromTemplate, usableTemplate } from "./pgliteTemplate.ts";

/** Data directories this process has open: a second open would corrupt them just as another process would. */
const openDirs = new Set<string>();

export interface PgliteOptions {
  /**
   * A packed, initialized cluster a new data dir is unpacked from instead of running initdb
   * (pgliteTemplate.ts); `false` runs initdb. Default: the build's, when it was made by this PGlite.
   */
  template?: string | false;
}

export async function openPgliteDb(dataDir: string, options: PgliteOptions = {}): Promise<PgliteDb> {
  await mkdir(dirname(dataDir), { recursive: true });
  const lockFile = `${dataDir}.lock`;
  if (openDirs.has(dataDir))
    throw new Error(`PGlite data directory ${dataDir} is already open in this process`);
  await takeDirLock(lockFile);
  openDirs.add(dataDir);
  let opened: PGlite | undefined;
  try {
    const template =
      options.template === false ? undefined : await usableTemplate(options.template ?? DEFAULT_TEMPLATE);
    if (template) await seedFromTemplate(dataDir, template);
    baselineWasmOnly();
    opened = await PGlite.create(dataDir);
    await tuneMemory(opened);
  } catch (err) {
    await opened?.close().catch(() => {});
    openDirs.delete(dataDir);
    await rm(lockFile, { force: true });
    throw err;
  }
  const pglite = opened;
  let closed = false;
  return {
    kind: "pglite",
    pglite,
    dataDir,
    query: (sql, params) => queryRows(pglite, sql, params),
    exec: async (sql) => {
      await pglite.exec(sql);
    },
    // PGlite holds its transaction mutex for the whole callback, so other queries on the instance
    // (the queue's, say) wait instead of landing inside this transaction.
    transaction: (fn) => pglite.transaction((tx) => fn(wrapTransaction(tx))),
    close: async () => {
      if (closed) return;
      closed = true;
      try {
        await pglite.close();
      } finally {
        openDirs.delete(dataDir);
        await rm(lockFile, { force: true });
      }
    },
  };
}

/**
 * V8 compiles WebAssembly twice: a quick baseline (Liftoff) and then, in the background, optimized
 * code (TurboFan). For PGlite's 9 MB of WASM the second pass cost a CLI process ~500 MB of peak
 * RSS and 2-3 s of CPU, mostly after its work was done (its exit waits for the compiler), for
 * queries over a few small tables. Baseline code only: `stackpilot status` peaked at 145 MB instead
 * of 650 MB (bench/footprint.bench.ts). Both flags are needed (either alone still tiers up); they
 * apply to WASM compiled after this, which PGlite's is.
 */
function baselineWasmOnly(): void {
  setFlagsFromString("--no-wasm-tier-up");
  setFlagsFromString("--no-wasm-dynamic-tiering");
}

/**
 * Postgres' default 128 MB of shared buffers lives in PGlite's WASM memory, which never shrinks.
 * Stackpilot's tables are small: 16 MB holds them and keeps ~120 MB off the process's peak
 * (bench/webhooks.bench.ts reports the server's memory). The setting takes effect when the
 * directory is next opened: the App prepares its database in a child first (prepareDb.ts).
 */
export const PGLITE_SHARED_BUFFERS = "16MB";

async function tuneMemory(pglite: PGlite): Promise<void> {
  const [row] = await queryRows<{ shared_buffers: string }>(pglite, "SHOW shared_buffers");
  if (row?.shared_buffers !== PGLITE_SHARED_BUFFERS)
    await pglite.exec(`ALTER SYSTEM SET shared_buffers = '${PGLITE_SHARED_BUFFERS}'`);
}

async function queryRows<T extends Row>(
  target: PGlite | Transaction,
  sql: string,
  params?: readonly unknown[],
): Promise<T[]> {
  const result = await target.query<T>(sql, params ? [...params] : undefined);
  return result.rows;
}

function wrapTransaction(tx: Transaction): Queryable {
  return {
    query: (sql, params) => queryRows(tx, sql, params),
    exec: async (sql) => {
      await tx.exec(sql);
    },
  };
}

/**
 * PGlite is one process's database: two processes on one data directory corrupt it. A pid file
 * next to the directory refuses the second; a pid that no longer runs left a stale file behind.
 */
async function takeDirLock(lockFile: string): Promise<void> {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const handle = await open(lockFile, "wx");
      await handle.writeFile(String(process.pid));
      await handle.close();
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    }
    const pid = Number((await readFile(lockFile, "utf8").catch(() => "")).trim());
    if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && isAlive(pid)) {
      throw new Error(
        `PGlite data directory is in use by process ${pid} (${lockFile}); ` +
          "use a Postgres server (DATABASE_URL) to run several stackpilot processes",
      );
    }
    await rm(lockFile, { force: true });
  }
  throw new Error(`could not take ${lockFile}`);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}
