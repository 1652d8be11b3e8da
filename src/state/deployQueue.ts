/**
 * The durable deploy queue (pg-boss, in the store's database: Postgres, or PGlite through
 * pg-boss's PGlite adapter).
 *
 * - One target (repo, stack, host) deploys one at a time, across replicas: a job holds the
 *   store lock deployLockKey(target) while its deployment runs.
 * - Newest wins: a queued deployment with a newer one for the same target is marked
 *   'superseded' instead of running.
 * - Different targets run in parallel, at most `concurrency` at once per process.
 * - A job whose worker died is retried by pg-boss (retryLimit) as a new deployment row with
 *   trigger 'retry'; the interrupted one stays 'failed' with its reason. A job out of retries
 *   leaves its deployment 'failed'.
 */
import { hostname } from "node:os";
import { setTimeout as sleep } from "node:timers/promises";
import type { Job, PgBoss } from "pg-boss";
import { startBoss } from "./boss.ts";
import {
  type Deployment,
  type DeployTarget,
  type DeployTrigger,
  deployLockKey,
  type FinishStatus,
  type Timings,
} from "./deployments.ts";
import { Semaphore } from "./semaphore.ts";
import type { Store } from "./store.ts";

export interface DeployJob extends DeployTarget {
  commit: string;
  fingerprint: string;
  actor: string;
  trigger: DeployTrigger;
  /** The deployment row (created with store.createDeployment) this job carries out. */
  deploymentId: number;
}

export interface DeployContext {
  /** The running deployment: the job's row, or a retry of it. Log against this id. */
  deployment: Deployment;
  job: DeployJob;
  /** 0 on the first attempt, then pg-boss's retry count. */
  attempt: number;
  /** Aborted when the target lock is lost or the queue stops without waiting: stop deploying. */
  signal: AbortSignal;
}

export interface DeployOutcome {
  status: FinishStatus;
  error?: string | null;
  timings?: Timings | null;
  release?: string | null;
}

/** Runs one deployment. Throwing marks it failed and lets pg-boss retry the job. */
export type DeployHandler = (ctx: DeployContext) => Promise<DeployOutcome>;

export interface DeployQueueOptions {
  /** Deployments running at once in this process. */
  concurrency: number;
  /** pg-boss queue name. */
  name?: string;
  /** Target lock lease; a dead deployer's target is free again after this long. */
  lockTtlMs?: number;
  /** How often a job waiting for a busy target tries again. */
  lockPollMs?: number;
  retryLimit?: number;
  retryDelaySeconds?: number;
  pollingIntervalSeconds?: number;
  /** pg-boss fails (and so retries) a job whose worker stopped heartbeating this long (>= 10). */
  heartbeatSeconds?: number;
  /** Upper bound on one job, waiting for its target included. */
  expireInSeconds?: number;
  /** How often to look for deployments whose deployer died (default: lockTtlMs). */
  recoverIntervalMs?: number;
  /** Names this process in lock holders. */
  instanceId?: string;
  onError?: (err: unknown) => void;
  /** A started pg-boss shared with other queues (see boss.ts); the caller starts and stops it. */
  boss?: PgBoss;
}

export interface StopOptions {
  /**
   * true: wait up to timeoutMs for running deployments, then abort the rest; false: abort their
   * signals at once. Jobs still waiting for a busy target are handed back to the queue either way.
   */
  graceful?: boolean;
  timeoutMs?: number;
}

export interface DeployQueue {
  readonly name: string;
  enqueueDeploy(job: DeployJob): Promise<string>;
  /** Starts working jobs with handler (once per queue). */
  work(handler: DeployHandler): Promise<void>;
  /** Marks deployments whose deployer died as failed and hands their jobs back to pg-boss for retry. */
  recover(): Promise<Deployment[]>;
  stop(options?: StopOptions): Promise<void>;
}

export async function createQueue(store: Store, options: DeployQueueOptions): Promise<DeployQueue> {
  const name = options.name ?? "stackpilot-deploy";
  const deadLetter = `${name}-dead`;
  const lockTtlMs = options.lockTtlMs ?? 60_000;
  const lockPollMs = options.lockPollMs ?? 1000;
  const instanceId =
    options.instanceId ?? `${hostname()}:${process.pid}:${Math.random().toString(36).slice(2, 8)}`;
  const onError = options.onError ?? ((err: unknown) => console.error("stackpilot queue:", err));
  const jobOptions = {
    retryLimit: options.retryLimit ?? 2,
    retryDelay: options.retryDelaySeconds ?? 10,
    heartbeatSeconds: options.heartbeatSeconds ?? 30,
    expireInSeconds: options.expireInSeconds ?? 4 * 3600,
  };

  const owned = !options.boss;
  const boss = options.boss ?? (await startBoss(store, { max: options.concurrency * 2 + 2, onError }));
  await boss.createQueue(deadLetter);
  await boss.createQueue(name, { ...jobOptions, deadLetter });

  const permits = new Semaphore(options.concurrency);
  const inFlight = new Set<string>();
  const stopping = new AbortController();
  const abortRunning = new AbortController();
  let recoverTimer: NodeJS.Timeout | undefined;
  let working = false;

  const send = async (job: DeployJob): Promise<string> => {
    const id = await boss.send(name, { ...job }, jobOptions);
    if (!id) throw new Error(`pg-boss did not queue deployment ${job.deploymentId}`);
    return id;
  };

  /** Before the lock: does the job still have something to do? Settles stale states on the way. */
  const stillWanted = async (rootId: number): Promise<boolean> => {
    const current = await store.latestAttempt(rootId);
    if (!current) return false;
    switch (current.status) {
      case "queued":
        return !(await store.supersedeIfStale(current.id));
      case "running":
        return true; // its deployer may be dead; decided once we hold the target lock
      case "failed":
        return !(await store.hasNewerDeployment(current.id)); // a retry, unless something newer replaces it
      default:
        return false;
    }
  };

  /** Under the target lock: the deployment to run now, started; undefined when there is none. */
  const claim = async (rootId: number): Promise<Deployment | undefined> => {
    let current = await store.latestAttempt(rootId);
    if (!current) return undefined;
    // We hold the target's lock, so whoever was running this is gone.
    if (current.status === "running" && (await store.interruptDeployment(current.id))) {
      current = { ...current, status: "failed" };
    }
    if (current.status === "queued" && (await store.supersedeIfStale(current.id))) return undefined;
    if (current.status === "failed") {
      if (await store.hasNewerDeployment(current.id)) return undefined;
      current = await store.createRetry(current.id);
    }
    if (current.status !== "queued" || !(await store.startDeployment(current.id))) return undefined;
    return store.latestAttempt(rootId);
  };

  const runJob = async (job: Job<DeployJob>, handler: DeployHandler): Promise<void> => {
    const rootId = job.data.deploymentId;
    const root = await store.latestAttempt(rootId);
    if (!root) {
      onError(new Error(`deploy job ${job.id}: no deployment ${rootId}`));
      return;
    }
    const lockKey = deployLockKey(root);
    const holder = `${instanceId}/job:${job.id}:${job.retryCount}`;
    const waitSignal = AbortSignal.any([job.signal, stopping.signal]);
    for (;;) {
      if (!(await stillWanted(rootId))) return;
      if (await store.acquireLock(lockKey, holder, lockTtlMs, { deploymentId: rootId, jobId: job.id })) break;
      if (!(await sleep(lockPollMs, true, { signal: waitSignal }).catch(() => false))) {
        // Stopping while the target is busy: hand the job back instead of spending one of its retries.
        if (stopping.signal.aborted) await send(job.data);
        return;
      }
    }
    await store.holdLock(lockKey, holder, lockTtlMs, async (lockSignal) => {
      const signal = AbortSignal.any([lockSignal, abortRunning.signal, job.signal]);
      await permits.acquire(signal);
      try {
        const deployment = await claim(rootId);
        if (!deployment) return;
        let outcome: DeployOutcome;
        try {
          outcome = await handler({ deployment, job: job.data, attempt: job.retryCount, signal });
        } catch (err) {
          await store.finishDeployment(deployment.id, { status: "failed", error: errorText(err) });
          throw err;
        }
        await store.finishDeployment(deployment.id, outcome);
      } finally {
        permits.release();
      }
    });
  };

  /** pg-boss gave up on a job: a deployment it never got to run must not stay 'queued' forever. */
  const buryJob = async (job: Job<DeployJob>): Promise<void> => {
    const current = await store.latestAttempt(job.data.deploymentId);
    if (current?.status === "queued") {
      await store.finishDeployment(current.id, {
        status: "failed",
        error: `the deploy job failed ${jobOptions.retryLimit + 1} times before this deployment could start`,
      });
    }
  };

  const recover = async (): Promise<Deployment[]> => {
    const recovered = await store.recoverInterrupted();
    for (const deployment of recovered) {
      const rootId = deployment.retryOf ?? deployment.id;
      const jobs = await boss.findJobs<DeployJob>(name, { data: { deploymentId: rootId } });
      // Still 'active' in pg-boss but not running here: its worker died. Failing it retries it now
      // rather than when its heartbeat is noticed as missing.
      const orphaned = jobs.filter((j) => j.state === "active" && !inFlight.has(j.id));
      if (orphaned.length > 0) {
        await boss.fail(
          name,
          orphaned.map((j) => ({ id: j.id, retryCount: j.retryCount })),
          { error: deployment.error },
        );
      }
    }
    return recovered;
  };

  return {
    name,
    enqueueDeploy: send,
    recover,
    work: async (handler) => {
      if (working) throw new Error("work() was already called on this queue");
      working = true;
      const workOptions = {
        batchSize: 1,
        pollingIntervalSeconds: options.pollingIntervalSeconds ?? 2,
        // Jobs waiting for a busy target hold a worker but no permit; twice the permits keeps
        // them from starving other targets.
        localConcurrency: options.concurrency * 2,
      };
      await boss.work<DeployJob>(name, workOptions, async ([job]) => {
        if (!job) return;
        inFlight.add(job.id);
        try {
          await runJob(job, handler);
        } finally {
          inFlight.delete(job.id);
        }
      });
      await boss.work<DeployJob>(
        deadLetter,
        { pollingIntervalSeconds: workOptions.pollingIntervalSeconds },
        async ([job]) => {
          if (job) await buryJob(job);
        },
      );
      const sweep = () => recover().catch(onError);
      await sweep();
      recoverTimer = setInterval(sweep, options.recoverIntervalMs ?? lockTtlMs);
    },
    stop: async ({ graceful = true, timeoutMs = 30_000 } = {}) => {
      clearInterval(recoverTimer);
      stopping.abort();
      if (!graceful) abortRunning.abort();
      if (owned) await boss.stop({ graceful, timeout: timeoutMs, close: true });
      else await boss.offWork(name, { wait: graceful });
      // pg-boss has failed (so will retry) whatever outlived the timeout: tell it to stop deploying.
      abortRunning.abort();
    },
  };
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
