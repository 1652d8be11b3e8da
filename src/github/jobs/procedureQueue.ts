/**
 * The queue of procedure runs on the shared pg-boss, beside the GitHub work queue (jobQueue.ts):
 * one job per run (singleton key `run:<id>`), heartbeated, so a run whose process died is failed
 * by pg-boss within a minute and retried by whichever replica (or restart) is alive; the retry
 * resumes the run at its next unfinished step (src/procedures/engine.ts). A run queued here is
 * picked up at once by an idle worker of this process when it has them (pg-boss `notifyWorker`
 * to each), not at the next poll.
 */
import type { PgBoss } from "pg-boss";
import { HEARTBEAT_SECONDS } from "./jobQueue.ts";

export const PROCEDURE_QUEUE = "stackpilot-procedures";

/** Attempts after the first; each resumes the run where the one before stopped. */
export const PROCEDURE_RETRY_LIMIT = 5;

export interface ProcedureQueue {
  send(runId: number): Promise<void>;
  work(handler: (runId: number, meta: { attempt: number; last: boolean }) => Promise<void>): Promise<void>;
  stop(): Promise<void>;
}

export async function createProcedureQueue(
  boss: PgBoss,
  opts: { concurrency?: number; retryLimit?: number; pollingIntervalSeconds?: number } = {},
): Promise<ProcedureQueue> {
  const retryLimit = opts.retryLimit ?? PROCEDURE_RETRY_LIMIT;
  const settings = {
    retryLimit,
    retryDelay: 2,
    retryBackoff: true,
    // Runs wait for each other (one per procedure at a time) and may sleep: hours, not minutes.
    expireInSeconds: 6 * 3600,
    heartbeatSeconds: HEARTBEAT_SECONDS,
  };
  await boss.createQueue(PROCEDURE_QUEUE, settings);
  await boss.updateQueue(PROCEDURE_QUEUE, settings);
  // One pg-boss worker per concurrent run, each with its own id: pg-boss wakes only the worker it
  // is given, and the first may be busy with a long run while the others sleep out their poll.
  const workerIds: string[] = [];
  return {
    async send(runId) {
      const id = await boss.send(PROCEDURE_QUEUE, { runId }, { singletonKey: `run:${runId}` });
      if (!id) throw new Error(`run ${runId} is already queued`);
      for (const w of workerIds) boss.notifyWorker(w);
    },
    async work(handler) {
      for (let i = 0; i < (opts.concurrency ?? 4); i++)
        workerIds.push(
          await boss.work<{ runId: number }>(
            PROCEDURE_QUEUE,
            { batchSize: 1, localConcurrency: 1, pollingIntervalSeconds: opts.pollingIntervalSeconds ?? 2 },
            async ([j]) => {
              if (!j) return;
              const attempt = (j as { retryCount?: number }).retryCount ?? 0;
              await handler(j.data.runId, { attempt, last: attempt >= retryLimit });
            },
          ),
        );
    },
    async stop() {
      await boss.offWork(PROCEDURE_QUEUE, { wait: true });
    },
  };
}
