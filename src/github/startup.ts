/**
 * The App's database and queue at start-up: the state store (PGlite under the data dir, or
 * DATABASE_URL), the shared pg-boss and the GitHub work queue on it, waited for while the
 * database does not answer (npm start), each part told to `/readyz` as it is loaded.
 */
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { extname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { PgBoss } from "pg-boss";
import { errorText } from "../deploy/hostDeploy.ts";
import { startBoss } from "../state/boss.ts";
import type { LockInfo } from "../state/locks.ts";
import { DEFAULT_TEMPLATE, usableTemplate } from "../state/pgliteTemplate.ts";
import { openStore, type Store } from "../state/store.ts";
import type { Readiness } from "./http/health.ts";
import { createJobQueue, type JobQueue } from "./jobs/jobQueue.ts";

interface QueueEnv {
  DATABASE_URL?: string | undefined;
  STACKPILOT_DATA_DIR: string;
  STACKPILOT_WORKERS: number;
}

/** Longest wait between two attempts to reach the database. */
const MAX_WAIT_MS = 30_000;

export async function openQueue(
  env: QueueEnv,
  readiness: Readiness,
  waitForDatabase?: (problem: string) => void,
): Promise<{ store: Store; boss: PgBoss; jobs: JobQueue }> {
  if (!env.DATABASE_URL) await prepareEmbeddedDb(env.STACKPILOT_DATA_DIR);
  for (let attempt = 1; ; attempt++) {
    try {
      return await openOnce(env, readiness);
    } catch (err) {
      if (!waitForDatabase) throw err;
      const problem = errorText(err);
      readiness.failing(problem);
      waitForDatabase(problem);
      await new Promise((r) => setTimeout(r, Math.min(MAX_WAIT_MS, 500 * 2 ** attempt)));
    }
  }
}

async function openOnce(env: QueueEnv, readiness: Readiness) {
  const store = await openStore({
    dataDir: env.STACKPILOT_DATA_DIR,
    ...(env.DATABASE_URL ? { databaseUrl: env.DATABASE_URL } : {}),
  });
  readiness.loaded("database");
  let boss: PgBoss | undefined;
  try {
    boss = await startBoss(store);
    const jobs = await createJobQueue(boss, { concurrency: env.STACKPILOT_WORKERS });
    readiness.loaded("queue");
    return { store, boss, jobs };
  } catch (err) {
    await boss?.stop({ graceful: false, close: true }).catch(() => {});
    await store.close().catch(() => {});
    throw err;
  }
}

/**
 * A new embedded database without the build's template (pgliteTemplate.ts) needs initdb, which
 * peaked at 1.1 GB and left ~140 MB more resident for good: it runs in a short-lived child
 * (prepareDb.ts: initdb, migrations, the queue's schema), and the server opens a ready database.
 * With the template, or a database already there, the server opens it itself.
 */
async function prepareEmbeddedDb(dataDir: string): Promise<void> {
  if (existsSync(join(dataDir, "pglite", "PG_VERSION")) || (await usableTemplate(DEFAULT_TEMPLATE))) return;
  const here = fileURLToPath(import.meta.url);
  const script = join(here, "..", `prepareDb${extname(here)}`);
  const stderr: Buffer[] = [];
  const code = await new Promise<number | null>((resolve, reject) => {
    // initdb in WASM takes seconds; ten minutes means it hangs, and the start should say so.
    const child = spawn(process.execPath, [script, dataDir], {
      stdio: ["ignore", "inherit", "pipe"],
      timeout: 10 * 60_000,
      killSignal: "SIGKILL",
    });
    child.stderr.on("data", (d: Buffer) => stderr.push(d));
    child.on("error", reject);
    child.on("close", resolve);
  });
  if (code !== 0) {
    const why = Buffer.concat(stderr).toString("utf8").trim().split("\n").slice(-10).join("\n");
    throw new Error(`preparing the database in ${dataDir} failed (exit ${code}):\n${why}`);
  }
}

/**
 * Deploy locks held now, by target: `deploy:<repo>:<stack>:<host>` read from the right (a host
 * name has no colon; the repository is not a label).
 */
export function deployLocksHeld(locks: readonly LockInfo[]): { stack: string; host: string }[] {
  const held: { stack: string; host: string }[] = [];
  for (const l of locks) {
    if (l.expired || !l.key.startsWith("deploy:")) continue;
    const parts = l.key.split(":");
    const [stack, host] = parts.slice(-2);
    if (parts.length >= 4 && stack && host) held.push({ stack, host });
  }
  return held;
}
