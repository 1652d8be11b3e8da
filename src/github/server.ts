/**
 * `npm start`: the GitHub App with embedded defaults.
 * 1. read and check the environment (secrets may come from `NAME_FILE` files), 2. listen at once:
 * `/healthz` answers, `/readyz` says what start-up waits for, 3. load the hosts file, 4. open the
 * state store (PGlite under the data dir, or DATABASE_URL, waited for while it does not answer),
 * 5. start the shared queue, 6. serve Probot with the app (webhooks -> queue) and its worker
 * (queue -> plans, deploys): ready. Without APP_ID/PRIVATE_KEY, Probot serves its registration
 * flow from app.yml instead (`run` below).
 */
import { mkdirSync } from "node:fs";
import { createServer, type RequestListener, type Server } from "node:http";
import { join } from "node:path";
import { type ApplicationFunction, createProbot, type Probot, run } from "probot";
import { type HostConfig, type Inventory, loadInventory } from "../config/hostsFile.ts";
import { withSecretFiles } from "../config/secretEnv.ts";
import { SshPool } from "../deploy/ssh/pool.ts";
import { MirrorCache } from "../git/mirror.ts";
import { StackpilotMetrics } from "../metrics/metrics.ts";
import { Planner } from "../plan/planner.ts";
import type { Store } from "../state/store.ts";
import { githubHost } from "./api/githubHost.ts";
import { StackpilotOctokit } from "./api/octokit.ts";
import { stackpilotApp } from "./app.ts";
import {
  type BackgroundLoops,
  type BackgroundParts,
  installationIdOf,
  startBackground,
} from "./backgroundWork.ts";
import { startDeliveryPruning } from "./deliveryPruning.ts";
import { parseEnv, type StackpilotEnv, webhookSecret } from "./env.ts";
import { healthRoute, Readiness } from "./http/health.ts";
import {
  createWebhookHandler,
  createWebhookServer,
  type HttpRoute,
  httpServerOptions,
  WEBHOOK_PATH,
  type WebhookLimits,
} from "./http/webhookServer.ts";
import { httpRoutes } from "./httpRoutes.ts";
import type { JobQueue } from "./jobs/jobQueue.ts";
import { createProcedureQueue, type ProcedureQueue } from "./jobs/procedureQueue.ts";
import { deployLocksHeld, openQueue } from "./startup.ts";

// What callers of createServices check their environment with.
export { parseEnv } from "./env.ts";

export interface Services {
  store: Store;
  jobs: JobQueue;
  /** Procedure runs (triggers, schedules, `/run`, `stackpilot run`). */
  procedureJobs: ProcedureQueue;
  appFn: ApplicationFunction;
  /** Endpoints besides the webhook (http/): health, metrics, triggers, pages as they are added. */
  routes: HttpRoute[];
  metrics: StackpilotMetrics;
  readiness: Readiness;
  stop(): Promise<void>;
}

export interface ServicesOptions {
  /** `false` only queues (for benchmarks and tests). */
  worker?: boolean;
  /** Told what is loaded, for `/readyz` (start() shares it with the server listening meanwhile). */
  readiness?: Readiness;
  /** Wait for a database that does not answer yet, saying so here (npm start); else fail at once. */
  waitForDatabase?: (problem: string) => void;
}

/** Everything behind the webhook endpoint. */
export async function createServices(env: StackpilotEnv, opts: ServicesOptions = {}): Promise<Services> {
  const readiness = opts.readiness ?? new Readiness();
  const parts = await openParts(env, readiness, opts.waitForDatabase);
  const { store, boss, jobs, procedureJobs, metrics, pool, planner } = parts;
  // Probot hands the App over when it loads it: the UI and the background work need its auth.
  let loaded: Probot | undefined;
  const routes = httpRoutes(env, {
    ...parts,
    readiness,
    triggers: parts.inventory.triggers,
    loaded: () => loaded,
  });
  const loops: BackgroundLoops = {};
  const appFn = stackpilotApp({
    store,
    enqueue: (job, deliveryId) => jobs.send(job, deliveryId),
    onLoad: async (app) => {
      loaded = app;
      if (opts.worker === false) return;
      await startBackground(app, parts, loops);
    },
  });
  const pruning = await startDeliveryPruning(store);
  return {
    store,
    jobs,
    appFn,
    routes,
    procedureJobs,
    metrics,
    readiness,
    async stop() {
      readiness.shuttingDown();
      await pruning.stop();
      await loops.drift?.stop();
      await loops.scheduler?.stop();
      await loops.recovery?.stop();
      await planner.close();
      await jobs.stop();
      await procedureJobs.stop();
      // Whatever the last jobs told is queued before the queue stops.
      await loops.notify?.stop();
      await boss.stop({ graceful: true, close: true });
      await pool.close();
      await store.close();
    },
  };
}

/** What the App runs on: the hosts file, the database and its queues, what jobs work with. */
async function openParts(
  env: StackpilotEnv,
  readiness: Readiness,
  waitForDatabase: ((problem: string) => void) | undefined,
): Promise<BackgroundParts & { inventory: Required<Inventory> }> {
  // The hosts file first: a mistake in it stops the start at once, before any database work.
  const inventory = await loadHostsFile(env.STACKPILOT_HOSTS_FILE);
  readiness.loaded("hosts");
  mkdirSync(env.STACKPILOT_DATA_DIR, { recursive: true });
  const { store, boss, jobs } = await openQueue(env, readiness, waitForDatabase);
  const procedureJobs = await createProcedureQueue(boss, { concurrency: env.STACKPILOT_WORKERS });
  const metrics = metricsFromDatabase(store, jobs);
  const installationId = installationIdOf(env);
  const { pool, mirrors, planner } = jobTools(env, inventory.hosts);
  return {
    env,
    inventory,
    store,
    boss,
    jobs,
    procedureJobs,
    metrics,
    installationId,
    pool,
    mirrors,
    planner,
  };
}

/** The hosts file's inventory, absent parts empty (no file: no hosts, so nothing to deploy to). */
async function loadHostsFile(path: string | undefined): Promise<Required<Inventory>> {
  if (!path) return { hosts: [], registries: [], notifications: [], triggers: [] };
  const { hosts, registries, notifications = [], triggers = [] } = await loadInventory(path);
  return { hosts, registries, notifications, triggers };
}

/** The metrics, with the queue's depth and the deploy locks held read from the database when scraped. */
function metricsFromDatabase(store: Store, jobs: JobQueue): StackpilotMetrics {
  const metrics = new StackpilotMetrics();
  metrics.readFromDatabase(
    { queueJobs: () => jobs.counts(), locksHeld: async () => deployLocksHeld(await store.listLocks()) },
    {
      onError: (err) =>
        console.error(`stackpilot: reading metrics from the database: ${(err as Error).message}`),
    },
  );
  return metrics;
}

/** What jobs deploy and plan with: SSH to the hosts, mirrors of the repositories, the planner. */
function jobTools(env: StackpilotEnv, hosts: HostConfig[]) {
  const pool = new SshPool(hosts, { dataDir: env.STACKPILOT_DATA_DIR });
  const mirrors = new MirrorCache({
    dir: join(env.STACKPILOT_DATA_DIR, "mirrors"),
    maxBytes: env.STACKPILOT_MIRROR_BUDGET_MB * 1024 * 1024,
    allowedOrigin: githubHost(env).origin,
  });
  // Plans run off the main thread, within a budget: webhooks are answered whatever a plan meets.
  const planner = new Planner({ budgetMs: env.STACKPILOT_PLAN_BUDGET_S * 1000 });
  return { pool, mirrors, planner };
}

/** The webhook server around the app, listening; for npm start, tests and benchmarks. */
export async function startServer(
  services: Services,
  opts: { probot: Probot; secret: string; port?: number; host?: string; limits?: Partial<WebhookLimits> },
): Promise<{ port: number; close(): Promise<void> }> {
  const server = await createWebhookServer({
    appFn: services.appFn,
    probot: opts.probot,
    secret: opts.secret,
    routes: services.routes,
    observe: (event, status) => services.metrics.webhook(event, status),
    ...(opts.limits ? { limits: opts.limits } : {}),
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port ?? 0, opts.host ?? "127.0.0.1", () => resolve());
  });
  const address = server.address();
  return {
    port: typeof address === "object" && address ? address.port : 0,
    close: () =>
      new Promise<void>((resolve) => {
        for (const r of services.routes) r.close?.();
        server.close(() => resolve());
      }),
  };
}

export async function start(given: NodeJS.ProcessEnv = process.env): Promise<void> {
  const rawEnv = withSecretFiles(given);
  const env = parseEnv(rawEnv);
  if (!env.APP_ID || !(env.PRIVATE_KEY || env.PRIVATE_KEY_PATH)) {
    // No credentials yet: Probot's registration flow (app.yml) writes them to .env.
    await run(() => {});
    return;
  }
  // Probot's Octokit, retrying rate limits as octokit.ts decides (Probot's own never retries a
  // secondary one). Probot logs only warnings by default; where it listens is worth a line.
  const probot = createProbot({
    env: { LOG_LEVEL: "info", ...rawEnv },
    overrides: { Octokit: StackpilotOctokit, baseUrl: githubHost(env).apiUrl },
  });
  const secret = webhookSecret(env, (m) => probot.log.warn(m));

  // Listening before anything is opened: health checks answer during start-up, and /readyz says
  // what it waits for; every other request gets 503 until the App is ready.
  const readiness = new Readiness();
  let serve: RequestListener = startingAnswer(healthRoute(readiness));
  const server = createServer(httpServerOptions(), (req, res) => serve(req, res));
  const port = await listen(server, env.PORT, env.HOST);
  let services: Services | undefined;
  stopOnSignals(server, readiness, () => services);
  probot.log.info(`Stackpilot starting on http://${env.HOST}:${port} (/healthz, /readyz)`);
  services = await createServices(env, {
    readiness,
    waitForDatabase: (problem) => probot.log.warn(`waiting for the database: ${problem}`),
  });
  const { metrics } = services;
  serve = await createWebhookHandler({
    appFn: services.appFn,
    probot,
    secret,
    routes: services.routes,
    observe: (event, status) => metrics.webhook(event, status),
  });
  probot.log.info(`Stackpilot listening on http://${env.HOST}:${port} (webhooks at ${WEBHOOK_PATH})`);
}

/** SIGINT and SIGTERM: stop answering, then stop what was started, then exit. */
function stopOnSignals(server: Server, readiness: Readiness, started: () => Services | undefined): void {
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.once(signal, () => {
      readiness.shuttingDown();
      void new Promise<void>((resolve) => server.close(() => resolve()))
        .then(() => started()?.stop())
        .then(
          () => process.exit(0),
          (err: unknown) => {
            // Still exit: the queue's leases expire and the jobs run again on the next start.
            console.error(`stackpilot: shutdown after ${signal} failed: ${(err as Error).message}`);
            process.exit(1);
          },
        );
    });
  }
}

function listen(server: Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      const address = server.address();
      resolve(typeof address === "object" && address ? address.port : port);
    });
  });
}

/** Until the App is ready: health and readiness answer, anything else is told to come back. */
function startingAnswer(health: HttpRoute): RequestListener {
  return (req, res) => {
    const path = (req.url ?? "").split("?")[0] ?? "";
    void Promise.resolve(health.handle(req, res, path)).then((handled) => {
      if (handled) return;
      res
        .writeHead(503, { "content-type": "application/json", "retry-after": "5", connection: "close" })
        .end(JSON.stringify({ error: "Stackpilot is starting" }));
    });
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  start().catch((err: unknown) => {
    console.error(`stackpilot: ${(err as Error).message}`);
    process.exit(1);
  });
}
