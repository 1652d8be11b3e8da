/**
 * The durable queue of GitHub work (plans, commands, rollouts) on the shared pg-boss: a webhook
 * only queues; a worker does the work, retried with backoff when it throws (GitHub 5xx, rate
 * limits that outlast Octokit's own retries). A running job heartbeats: when its process dies
 * (SIGKILL mid-rollout), the heartbeat stops, pg-boss fails the job within HEARTBEAT_SECONDS plus
 * its monitor interval, and the job is retried by whichever replica (or restart) is alive.
 */
import type { PgBoss } from "pg-boss";
import type { QueueCounts } from "../../metrics/metrics.ts";
import type { GithubJob } from "../events.ts";

export const GITHUB_QUEUE = "stackpilot-github";

/** Retries of a failed job (so RETRY_LIMIT + 1 attempts in all). */
export const RETRY_LIMIT = 4;

/** A job whose worker has not heartbeated for this long is failed and retried. */
export const HEARTBEAT_SECONDS = 20;

export interface JobQueue {
  send(job: GithubJob, deliveryId: string): Promise<void>;
  work(
    handler: (job: GithubJob, meta: { deliveryId: string; attempt: number }) => Promise<void>,
  ): Promise<void>;
  /** The delivery id of every job in the queue, whatever its state (for audits: lost or doubled work). */
  deliveries(): Promise<string[]>;
  /** Jobs by state, as pg-boss' monitor last counted them (one row read; for metrics). */
  counts(): Promise<QueueCounts>;
  stop(): Promise<void>;
}

interface Envelope {
  job: GithubJob;
  deliveryId: string;
}

export async function createJobQueue(
  boss: PgBoss,
  opts: { concurrency?: number; retryLimit?: number } = {},
): Promise<JobQueue> {
  const settings = {
    retryLimit: opts.retryLimit ?? RETRY_LIMIT,
    retryDelay: 5,
    retryBackoff: true,
    // A bound on a live job's run time (a rollout waits up to 15 minutes for a busy target).
    expireInSeconds: 3600,
    heartbeatSeconds: HEARTBEAT_SECONDS,
  };
  await boss.createQueue(GITHUB_QUEUE, settings);
  // A queue made by an older version keeps its settings until told otherwise.
  await boss.updateQueue(GITHUB_QUEUE, settings);
  return {
    async send(job, deliveryId) {
      // The delivery id as singleton key: a second send of one delivery is a no-op, not a second job.
      const id = await boss.send(GITHUB_QUEUE, { job, deliveryId } satisfies Envelope, {
        singletonKey: deliveryId,
      });
      if (!id) throw new Error(`delivery ${deliveryId} is already queued`);
    },
    async work(handler) {
      await boss.work<Envelope>(
        GITHUB_QUEUE,
        { batchSize: 1, localConcurrency: opts.concurrency ?? 4 },
        async ([j]) => {
          if (!j) return;
          await handler(j.data.job, {
            deliveryId: j.data.deliveryId,
            attempt: (j as { retryCount?: number }).retryCount ?? 0,
          });
        },
      );
    },
    async deliveries() {
      return (await boss.findJobs<Envelope>(GITHUB_QUEUE)).map((j) => j.data.deliveryId);
    },
    async counts() {
      const q = await boss.getQueue(GITHUB_QUEUE);
      return {
        ready: q?.readyCount ?? 0,
        deferred: q?.deferredCount ?? 0,
        active: q?.activeCount ?? 0,
        failed: q?.failedCount ?? 0,
      };
    },
    async stop() {
      await boss.offWork(GITHUB_QUEUE, { wait: true });
    },
  };
}
