/**
 * Hook attempts of deployments (src/deploy/hookSteps.ts): one row per attempt, inserted before it
 * starts and finished with its result, duration and (bounded) output. What `stackpilot status`
 * counts (runs by hook and result, total duration) and what a deploy retried after a crash
 * numbers its attempts on from.
 */
import { type Queryable, type Row, toDate, toDateOrNull, toNumber } from "./db.ts";
import { boundText } from "./logBounds.ts";

export type HookRunStatus = "running" | "succeeded" | "failed" | "timed_out";

/** Bytes of a hook's output kept per attempt (the deployment's command log keeps more). */
export const MAX_HOOK_OUTPUT_BYTES = 8 * 1024;

export interface HookRunStart {
  hook: string;
  attempt: number;
  required: boolean;
}

export interface HookRunEnd {
  status: Exclude<HookRunStatus, "running">;
  exitCode: number | null;
  durationMs: number;
  output: string;
}

export interface HookRunRecord extends HookRunStart {
  id: number;
  deploymentId: number;
  status: HookRunStatus;
  exitCode: number | null;
  durationMs: number | null;
  output: string;
  startedAt: Date;
  finishedAt: Date | null;
}

/** Runs and time spent per (hook, result); `interrupted`: attempts cut off with their deployer. */
export interface HookStat {
  hook: string;
  status: HookRunStatus | "interrupted";
  runs: number;
  totalMs: number;
}

export async function startHookRun(db: Queryable, deploymentId: number, run: HookRunStart): Promise<number> {
  const [row] = await db.query(
    "INSERT INTO hook_runs (deployment_id, hook, attempt, required) VALUES ($1, $2, $3, $4) RETURNING id",
    [deploymentId, run.hook, run.attempt, run.required],
  );
  return toNumber(row?.id);
}

export async function finishHookRun(db: Queryable, id: number, end: HookRunEnd): Promise<void> {
  await db.query(
    `UPDATE hook_runs SET status = $2, exit_code = $3, duration_ms = $4, output = $5, finished_at = now()
      WHERE id = $1 AND status = 'running'`,
    [
      id,
      end.status,
      end.exitCode,
      Math.round(end.durationMs),
      boundText(end.output, MAX_HOOK_OUTPUT_BYTES).text,
    ],
  );
}

/**
 * Attempts of each hook made for this deployment's target and commit by deployments that never
 * finished (their deployer died) since the target's last finished deployment: a deploy retried
 * after a crash numbers its hooks' attempts on from there.
 */
export async function priorHookAttempts(
  db: Queryable,
  deploymentId: number,
): Promise<Record<string, number>> {
  const rows = await db.query(
    `SELECT h.hook, count(*) AS n
       FROM deployments me
       JOIN deployments d ON d.repo = me.repo AND d.stack = me.stack AND d.host = me.host
                         AND d.commit_sha = me.commit_sha AND d.id < me.id
                         AND d.status IN ('running', 'interrupted')
       JOIN hook_runs h ON h.deployment_id = d.id
      WHERE me.id = $1
        AND d.id > COALESCE((SELECT max(e.id) FROM deployments e
                              WHERE e.repo = me.repo AND e.stack = me.stack AND e.host = me.host
                                AND e.id < me.id AND e.status IN ('succeeded', 'failed', 'rolled_back')), 0)
      GROUP BY h.hook`,
    [deploymentId],
  );
  return Object.fromEntries(rows.map((r) => [String(r.hook), toNumber(r.n)]));
}

export async function listHookRuns(db: Queryable, deploymentId: number): Promise<HookRunRecord[]> {
  const rows = await db.query("SELECT * FROM hook_runs WHERE deployment_id = $1 ORDER BY id", [deploymentId]);
  return rows.map(toHookRun);
}

/** Runs and total duration by hook and result, over a repository's deployments. */
export async function hookStats(db: Queryable, repo: string): Promise<HookStat[]> {
  const rows = await db.query(
    `SELECT h.hook,
            CASE WHEN h.status = 'running' AND d.status NOT IN ('queued', 'running') THEN 'interrupted'
                 ELSE h.status END AS result,
            count(*) AS runs, COALESCE(sum(h.duration_ms), 0) AS total_ms
       FROM hook_runs h JOIN deployments d ON d.id = h.deployment_id
      WHERE d.repo = $1
      GROUP BY 1, 2
      ORDER BY 1, 2`,
    [repo],
  );
  return rows.map((r) => ({
    hook: String(r.hook),
    status: r.result as HookStat["status"],
    runs: toNumber(r.runs),
    totalMs: toNumber(r.total_ms),
  }));
}

function toHookRun(row: Row): HookRunRecord {
  return {
    id: toNumber(row.id),
    deploymentId: toNumber(row.deployment_id),
    hook: String(row.hook),
    attempt: toNumber(row.attempt),
    required: Boolean(row.required),
    status: row.status as HookRunStatus,
    exitCode: row.exit_code === null || row.exit_code === undefined ? null : toNumber(row.exit_code),
    durationMs: row.duration_ms === null || row.duration_ms === undefined ? null : toNumber(row.duration_ms),
    output: String(row.output),
    startedAt: toDate(row.started_at),
    finishedAt: toDateOrNull(row.finished_at),
  };
}
