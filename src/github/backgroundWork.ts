/**
 * What runs beside the webhooks once Probot has loaded the App (it needs the App's installation
 * auth): 1. notifications to the hosts file's channels, 2. recovery of deploys a dead process
 * left, 3. the drift loop, 4. the workers on the GitHub job queue and the procedure queue,
 * 5. the procedure scheduler. Benchmarks and tests that only queue start none of it.
 */
import { createHash } from "node:crypto";
import { realpathSync } from "node:fs";
import type { PgBoss } from "pg-boss";
import type { Probot } from "probot";
import type { Inventory } from "../config/hostsFile.ts";
import type { SshPool } from "../deploy/ssh/pool.ts";
import { ParseCache } from "../detect/snapshot.ts";
import type { MirrorCache } from "../git/mirror.ts";
import { reportingHostUp } from "../metrics/hostUp.ts";
import type { StackpilotMetrics } from "../metrics/metrics.ts";
import { startNotifications } from "../notify/queue.ts";
import type { Planner } from "../plan/planner.ts";
import type { Store } from "../state/store.ts";
import { type RepositoryDirectory, repositoryDirectory } from "./api/repositoryDirectory.ts";
import { botAllowlist, type StackpilotEnv } from "./env.ts";
import { startDrift } from "./jobs/drift.ts";
import type { Octokit, WorkerDeps } from "./jobs/jobContext.ts";
import type { JobQueue } from "./jobs/jobQueue.ts";
import type { ProcedureQueue } from "./jobs/procedureQueue.ts";
import { runProcedureJob } from "./jobs/procedureRun.ts";
import { startRecovery } from "./jobs/recovery.ts";
import { startScheduler } from "./jobs/scheduler.ts";
import { createWorker } from "./jobs/worker.ts";

interface Stoppable {
  stop(): Promise<void>;
}

/**
 * The loops running, each set as soon as it starts: when a later part fails to start, the
 * earlier ones are still there for Services.stop() to end, in the order server.ts gives.
 */
export interface BackgroundLoops {
  notify?: Stoppable;
  recovery?: Stoppable;
  drift?: Stoppable;
  scheduler?: Stoppable;
}

/** What createServices opened, that the background work runs on. */
export interface BackgroundParts {
  env: Pick<StackpilotEnv, "STACKPILOT_APP_SLUG" | "STACKPILOT_BOT_ALLOWLIST" | "STACKPILOT_MAX_FILE_BYTES">;
  store: Store;
  boss: PgBoss;
  jobs: JobQueue;
  procedureJobs: ProcedureQueue;
  inventory: Pick<Required<Inventory>, "hosts" | "registries" | "notifications">;
  mirrors: MirrorCache;
  pool: SshPool;
  planner: Planner;
  metrics: StackpilotMetrics;
  /** See installationIdOf. */
  installationId: string;
}

export async function startBackground(
  app: Probot,
  parts: BackgroundParts,
  loops: BackgroundLoops,
): Promise<void> {
  const { store, metrics } = parts;
  const deps = workerDeps(parts);
  const log = appLog(app);
  // Deploy failures, rollbacks, drift and heals are told to the hosts file's channels (src/notify).
  const told = await startNotifications(parts.boss, store, parts.inventory.notifications, log);
  loops.notify = told;
  deps.notifier = told.notifier;
  const octokitFor = async (id: number) => (await app.auth(id)) as Octokit;
  const holder = `${parts.installationId}:${process.pid}`;
  // Deploys of a process that died are found, recorded and shown as ended (recovery.ts).
  loops.recovery = startRecovery({ store, octokitFor, log, holder });
  // What hosts run is compared with the records where the default branch asks (jobs/drift.ts).
  const repositories = repositoryDirectory(app);
  loops.drift = startDrift({
    worker: deps,
    octokitFor,
    repositories,
    notifier: told.notifier,
    log,
    holder,
    // stackpilot_drift{stack,host}; host_up comes from the remote runner every command uses.
    onCheck: (checked) => metrics.drift(checked.stack, checked.host, checked.verdict.state),
  });
  await workQueues(app, parts, deps, repositories);
  loops.scheduler = startScheduler({ store, queue: parts.procedureJobs, log });
}

/** What every job works with; the slug is set before each job, the notifier once it is started. */
function workerDeps(parts: BackgroundParts): WorkerDeps {
  const { env, jobs } = parts;
  return {
    store: parts.store,
    mirrors: parts.mirrors,
    hosts: parts.inventory.hosts,
    registries: parts.inventory.registries,
    remote: reportingHostUp(parts.pool, parts.metrics),
    cache: new ParseCache(),
    appSlug: env.STACKPILOT_APP_SLUG ?? "",
    installationId: parts.installationId,
    botAllowlist: botAllowlist(env),
    planner: parts.planner,
    metrics: parts.metrics,
    enqueue: (job, deliveryId) => jobs.send(job, deliveryId),
    procedureQueue: parts.procedureJobs,
    limits: { maxFileBytes: env.STACKPILOT_MAX_FILE_BYTES },
  };
}

/** The workers on both queues. */
async function workQueues(
  app: Probot,
  { env, jobs, procedureJobs }: BackgroundParts,
  deps: WorkerDeps,
  repositories: RepositoryDirectory,
): Promise<void> {
  // The slug (`@slug deploy`, the bot's own comments) is read from GitHub by the first job that
  // needs it, not at start: the App starts, and answers webhooks, while GitHub is unreachable.
  const slug = lazySlug(env.STACKPILOT_APP_SLUG, () => appSlugOf(app));
  const handle = createWorker(deps, app);
  // The worker logs and reports failures itself; what it throws is retried by the queue.
  await jobs.work(async (job, meta) => {
    deps.appSlug = await slug();
    await handle(job, meta);
  });
  await procedureJobs.work((runId, meta) => runProcedureJob({ deps, app, repositories }, runId, meta));
}

function appLog(app: Probot) {
  return {
    info: (m: string) => app.log.info(m),
    warn: (m: string) => app.log.warn(m),
    error: (m: string) => app.log.error(m),
  };
}

/**
 * Names this App's database (the same across restarts, and for every process sharing
 * DATABASE_URL): the owner written into host locks (deploy/hostLock.ts); with the pid, the
 * holder of recovery's and drift's round locks.
 */
export function installationIdOf(env: Pick<StackpilotEnv, "DATABASE_URL" | "STACKPILOT_DATA_DIR">): string {
  return createHash("sha256")
    .update(env.DATABASE_URL ?? `pglite:${realpathSync(env.STACKPILOT_DATA_DIR)}`)
    .digest("hex")
    .slice(0, 16);
}

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
