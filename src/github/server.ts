/**
 * `npm start`: the GitHub App with embedded defaults.
 * 1. read and check the environment (secrets may come from `NAME_FILE` files), 2. listen at once:
 * `/healthz` answers, `/readyz` says what start-up waits for, 3. load the hosts file, 4. open the
 * state store (PGlite under the data dir, or DATABASE_URL, waited for while it does not answer),
 * 5. start the shared queue, 6. serve Probot with the app (webhooks -> queue) and its worker
 * (queue -> plans, deploys): ready. Without APP_ID/PRIVATE_KEY, Probot serves its registration
 * flow from app.yml instead (`run` below).
 */
import { createHash } from "node:crypto";
import { mkdirSync, realpathSync } from "node:fs";
import { createServer, type RequestListener, type Server } from "node:http";
import { join } from "node:path";
import { type ApplicationFunction, createProbot, type Probot, run } from "probot";
import { z } from "zod";
import { type Inventory, loadInventory } from "../config/hostsFile.ts";
import { withSecretFiles } from "../config/secretEnv.ts";
import { SshPool } from "../deploy/ssh/pool.ts";
import { ParseCache } from "../detect/snapshot.ts";
import { MirrorCache } from "../git/mirror.ts";
import { reportingHostUp } from "../metrics/hostUp.ts";
import { StackpilotMetrics } from "../metrics/metrics.ts";
import { startNotifications } from "../notify/queue.ts";
import { Planner } from "../plan/planner.ts";
import type { Store } from "../state/store.ts";
import { createUi } from "../ui/router.ts";
import { uiSettings } from "../ui/settings.ts";
import { githubHost } from "./api/githubHost.ts";
import { StackpilotOctokit } from "./api/octokit.ts";
import { repositoryDirectory } from "./api/repositoryDirectory.ts";
import { stackpilotApp } from "./app.ts";
import { healthRoute, Readiness } from "./http/health.ts";
import { metricsRoute } from "./http/metrics.ts";
import { runsApiRoute } from "./http/runsApi.ts";
import { triggerRoute } from "./http/triggers.ts";
import {
  createWebhookHandler,
  createWebhookServer,
  type HttpRoute,
  httpServerOptions,
  WEBHOOK_PATH,
  type WebhookLimits,
} from "./http/webhookServer.ts";
import { startDrift } from "./jobs/drift.ts";
import type { Octokit, WorkerDeps } from "./jobs/jobContext.ts";
import type { JobQueue } from "./jobs/jobQueue.ts";
import { createProcedureQueue, type ProcedureQueue } from "./jobs/procedureQueue.ts";
import { runProcedureJob } from "./jobs/procedureRun.ts";
import { startRecovery } from "./jobs/recovery.ts";
import { startScheduler } from "./jobs/scheduler.ts";
import { createWorker } from "./jobs/worker.ts";
import { deployLocksHeld, openQueue } from "./startup.ts";

const Env = z.object({
  NODE_ENV: z.string().optional(),
  APP_ID: z.string().optional(),
  PRIVATE_KEY: z.string().optional(),
  PRIVATE_KEY_PATH: z.string().optional(),
  WEBHOOK_SECRET: z.string().min(1).optional(),
  DATABASE_URL: z.string().optional(),
  STACKPILOT_DATA_DIR: z.string().default(".stackpilot"),
  STACKPILOT_HOSTS_FILE: z.string().optional(),
  /** The app's slug (`@slug deploy`); read from GitHub when not set. */
  STACKPILOT_APP_SLUG: z.string().optional(),
  STACKPILOT_MIRROR_BUDGET_MB: z.coerce.number().positive().default(10_240),
  STACKPILOT_WORKERS: z.coerce.number().int().positive().default(4),
  /** Seconds a plan may take (in its own thread) before it is stopped and fails naming its stack. */
  STACKPILOT_PLAN_BUDGET_S: z.coerce.number().positive().default(30),
  /** Files Stackpilot parses from a repository (config, compose, .env) larger than this are refused. */
  STACKPILOT_MAX_FILE_BYTES: z.coerce
    .number()
    .int()
    .positive()
    .default(1024 * 1024),
  STACKPILOT_BOT_ALLOWLIST: z.string().default(""),
  /** Opens GET /api/runs/ID for any run (a trigger's secret opens that trigger's runs). */
  STACKPILOT_API_TOKEN: z.string().min(16).optional(),
  /** Where the App is reached, for the run URLs triggers answer with (default: the request's Host). */
  STACKPILOT_PUBLIC_URL: z.url().optional(),
  /** `1`: start without WEBHOOK_SECRET, accepting the secret `development` (never in production). */
  STACKPILOT_INSECURE_DEVELOPMENT: z.string().optional(),
  /** GitHub Enterprise Server (Probot's variables): API calls and git clones go there only. */
  GHE_HOST: z.string().optional(),
  GHE_PROTOCOL: z.string().optional(),
  /** When set, `/metrics` wants `Authorization: Bearer <token>`. */
  STACKPILOT_METRICS_TOKEN: z.string().min(1).optional(),
  /** The web UI (src/ui/settings.ts): GitHub sign-in, the static token, cookies. */
  STACKPILOT_UI_URL: z.string().optional(),
  GITHUB_CLIENT_ID: z.string().optional(),
  GITHUB_CLIENT_SECRET: z.string().optional(),
  STACKPILOT_UI_TOKEN: z.string().optional(),
  STACKPILOT_UI_TOKEN_WRITE: z.string().optional(),
  STACKPILOT_UI_COOKIE_SECURE: z.string().optional(),
  HOST: z.string().default("localhost"),
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
});
export type StackpilotEnv = z.infer<typeof Env>;

/** The app's environment, validated (defaults filled in). */
export function parseEnv(raw: NodeJS.ProcessEnv | Record<string, string | undefined>): StackpilotEnv {
  const env = Env.parse(raw);
  // Throw, naming the variable, when GHE_HOST or GHE_PROTOCOL or a UI setting is wrong.
  uiSettings(env, githubHost(env));
  return env;
}

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
  // The hosts file first: a mistake in it stops the start at once, before any database work.
  const {
    hosts,
    registries,
    notifications = [],
    triggers = [],
  }: Inventory = env.STACKPILOT_HOSTS_FILE
    ? await loadInventory(env.STACKPILOT_HOSTS_FILE)
    : { hosts: [], registries: [] };
  readiness.loaded("hosts");
  mkdirSync(env.STACKPILOT_DATA_DIR, { recursive: true });
  const { store, boss, jobs } = await openQueue(env, readiness, opts.waitForDatabase);
  const procedureJobs = await createProcedureQueue(boss, { concurrency: env.STACKPILOT_WORKERS });
  const metrics = new StackpilotMetrics();
  metrics.readFromDatabase(
    { queueJobs: () => jobs.counts(), locksHeld: async () => deployLocksHeld(await store.listLocks()) },
    {
      onError: (err) =>
        console.error(`stackpilot: reading metrics from the database: ${(err as Error).message}`),
    },
  );
  const pool = new SshPool(hosts, { dataDir: env.STACKPILOT_DATA_DIR });
  const mirrors = new MirrorCache({
    dir: join(env.STACKPILOT_DATA_DIR, "mirrors"),
    maxBytes: env.STACKPILOT_MIRROR_BUDGET_MB * 1024 * 1024,
    allowedOrigin: githubHost(env).origin,
  });
  const installationId = createHash("sha256")
    .update(env.DATABASE_URL ?? `pglite:${realpathSync(env.STACKPILOT_DATA_DIR)}`)
    .digest("hex")
    .slice(0, 16);

  // Plans run off the main thread, within a budget: webhooks are answered whatever a plan meets.
  const planner = new Planner({ budgetMs: env.STACKPILOT_PLAN_BUDGET_S * 1000 });
  let recovery: { stop(): Promise<void> } | undefined;
  let drift: { stop(): Promise<void> } | undefined;
  let scheduler: { stop(): Promise<void> } | undefined;
  let notify: { stop(): Promise<void> } | undefined;
  let loaded: Probot | undefined;
  const ui = createUi({
    store,
    settings: uiSettings(env, githubHost(env)),
    installation: async (id) => {
      if (!loaded) throw new Error("the App is not loaded yet");
      return (await loaded.auth(id)) as Octokit;
    },
    mirrors,
    botAllowlist: env.STACKPILOT_BOT_ALLOWLIST.split(",").filter(Boolean),
    log: {
      info: (m) => loaded?.log.info(m),
      warn: (m) => loaded?.log.warn(m),
      error: (m) => console.error(m),
    },
  });
  const appFn = stackpilotApp({
    store,
    enqueue: (job, deliveryId) => jobs.send(job, deliveryId),
    onLoad: async (app) => {
      loaded = app;
      if (opts.worker === false) return;
      // The slug (`@slug deploy`, the bot's own comments) is read from GitHub by the first job that
      // needs it, not at start: the App starts, and answers webhooks, while GitHub is unreachable.
      const slug = lazySlug(env.STACKPILOT_APP_SLUG, () => appSlugOf(app));
      const deps: WorkerDeps = {
        store,
        mirrors,
        hosts,
        registries,
        remote: reportingHostUp(pool, metrics),
        cache: new ParseCache(),
        appSlug: env.STACKPILOT_APP_SLUG ?? "",
        installationId,
        botAllowlist: env.STACKPILOT_BOT_ALLOWLIST.split(",").filter(Boolean),
        planner,
        metrics,
        enqueue: (job, deliveryId) => jobs.send(job, deliveryId),
        procedureQueue: procedureJobs,
        limits: { maxFileBytes: env.STACKPILOT_MAX_FILE_BYTES },
      };
      const log = {
        info: (m: string) => app.log.info(m),
        warn: (m: string) => app.log.warn(m),
        error: (m: string) => app.log.error(m),
      };
      // Deploy failures, rollbacks, drift and heals are told to the hosts file's channels (src/notify).
      const told = await startNotifications(boss, store, notifications, log);
      notify = told;
      deps.notifier = told.notifier;
      const handle = createWorker(deps, app);
      const octokitFor = async (id: number) => (await app.auth(id)) as Octokit;
      // Deploys of a process that died are found, recorded and shown as ended (recovery.ts).
      recovery = startRecovery({ store, octokitFor, log, holder: `${installationId}:${process.pid}` });
      // What hosts run is compared with the records where the default branch asks (jobs/drift.ts).
      const repositories = repositoryDirectory(app);
      drift = startDrift({
        worker: deps,
        octokitFor,
        repositories,
        notifier: told.notifier,
        log,
        holder: `${installationId}:${process.pid}`,
        // stackpilot_drift{stack,host}; host_up comes from the remote runner every command uses.
        onCheck: (checked) => metrics.drift(checked.stack, checked.host, checked.verdict.state),
      });
      // The worker logs and reports failures itself; what it throws is retried by the queue.
      await jobs.work(async (job, meta) => {
        deps.appSlug = await slug();
        await handle(job, meta);
      });
      await procedureJobs.work((runId, meta) => runProcedureJob({ deps, app, repositories }, runId, meta));
      scheduler = startScheduler({
        store,
        queue: procedureJobs,
        log: { info: (m) => app.log.info(m), warn: (m) => app.log.warn(m) },
      });
    },
  });
  // Deliveries are remembered to ignore redeliveries; GitHub redelivers for 3 days at most.
  let pruning: Promise<unknown> = Promise.resolve();
  const prune = () => {
    pruning = Promise.all([
      store.pruneDeliveries(DELIVERY_RETENTION_MS),
      store.procedures.pruneTriggerDeliveries(DELIVERY_RETENTION_MS),
    ]).catch((err: unknown) => {
      console.error(`stackpilot: pruning old webhook deliveries failed: ${(err as Error).message}`);
    });
  };
  prune();
  await pruning;
  const pruner = setInterval(() => {
    prune();
    void store.pruneSessions().catch(() => 0);
  }, 60 * 60_000).unref();
  return {
    store,
    jobs,
    appFn,
    // Health and metrics first: the UI's routes never shadow them.
    routes: [
      healthRoute(readiness),
      metricsRoute(metrics, { token: env.STACKPILOT_METRICS_TOKEN }),
      triggerRoute({
        triggers,
        store,
        queue: procedureJobs,
        ...(env.STACKPILOT_PUBLIC_URL ? { publicUrl: env.STACKPILOT_PUBLIC_URL } : {}),
        log: { error: (m) => console.error(`stackpilot: ${m}`) },
        onAnswer: (trigger, status) => metrics.triggerRequest(trigger, status),
      }),
      runsApiRoute({ store, triggers, apiToken: env.STACKPILOT_API_TOKEN }),
      ui,
    ],
    procedureJobs,
    metrics,
    readiness,
    async stop() {
      readiness.shuttingDown();
      clearInterval(pruner);
      await pruning;
      await drift?.stop();
      await scheduler?.stop();
      await recovery?.stop();
      await planner.close();
      await jobs.stop();
      await procedureJobs.stop();
      // Whatever the last jobs told is queued before the queue stops.
      await notify?.stop();
      await boss.stop({ graceful: true, close: true });
      await pool.close();
      await store.close();
    },
  };
}

/** How long a delivery id is remembered (GitHub's redelivery window is 3 days). */
export const DELIVERY_RETENTION_MS = 7 * 24 * 60 * 60_000;

async function appSlugOf(app: Probot): Promise<string> {
  const octokit = await app.auth();
  const { data } = await octokit.rest.apps.getAuthenticated();
  return data?.slug ?? "stackpilot";
}

/** The slug as configured, else read once from GitHub; a failed read is tried again next time. */
export function lazySlug(configured: string | undefined, read: () => Promise<string>): () => Promise<string> {
  let known: Promise<string> | undefined = configured ? Promise.resolve(configured) : undefined;
  return () => {
    known ??= read().catch((err: unknown) => {
      known = undefined;
      throw err;
    });
    return known;
  };
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

/**
 * The webhook secret: required, unless `STACKPILOT_INSECURE_DEVELOPMENT=1` says this is a
 * throwaway development setup (then the well-known secret `development`, said loudly).
 */
export function webhookSecret(env: StackpilotEnv, warn: (msg: string) => void): string {
  if (env.WEBHOOK_SECRET) return env.WEBHOOK_SECRET;
  if (env.STACKPILOT_INSECURE_DEVELOPMENT !== "1")
    throw new Error(
      "WEBHOOK_SECRET is required: without it, anyone could send webhooks (for a throwaway development setup only, STACKPILOT_INSECURE_DEVELOPMENT=1 accepts the secret `development`)",
    );
  warn(
    "no WEBHOOK_SECRET: accepting webhooks signed with the secret `development` (STACKPILOT_INSECURE_DEVELOPMENT=1)",
  );
  return "development";
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
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.once(signal, () => {
      readiness.shuttingDown();
      void new Promise<void>((resolve) => server.close(() => resolve()))
        .then(() => services?.stop())
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
