/**
 * Deployment history: one row per attempt to bring a (repo, stack, host) to a commit,
 * with the commands it ran and their bounded output.
 */
import { type Db, type Queryable, type Row, toDate, toDateOrNull, toNumber, toStringOrNull } from "./db.ts";
import {
  boundText,
  DEFAULT_LOG_LIMITS,
  type LogLimits,
  limitReachedMarker,
  MAX_COMMAND_TEXT_BYTES,
} from "./logBounds.ts";
import { ROLLOUT_LOCK_KEY_SQL } from "./rollouts.ts";
import { type DeploymentSource, recordDeploymentSources } from "./sources.ts";

export const DEPLOY_TRIGGERS = ["cli", "merge", "command", "rollback", "retry", "heal"] as const;
export type DeployTrigger = (typeof DEPLOY_TRIGGERS)[number];

export const DEPLOYMENT_STATUSES = [
  "queued",
  "running",
  "succeeded",
  "failed",
  "superseded",
  "rolled_back",
  "interrupted",
] as const;
export type DeploymentStatus = (typeof DEPLOYMENT_STATUSES)[number];

/** How a deployment that ran can end. */
export type FinishStatus = "succeeded" | "failed" | "rolled_back";

export const INTERRUPTED_ERROR = "interrupted: the deployer stopped mid-deploy";
/** A queued deployment whose rollout ended without it (recoverInterrupted). */
export const NEVER_STARTED_ERROR = "interrupted: its rollout stopped before it started";

/** Milliseconds per phase, e.g. `{ pull: 1200, up: 3400 }`. */
export type Timings = Record<string, number>;

export interface DeployTarget {
  repo: string;
  stack: string;
  host: string;
}

export interface NewDeployment extends DeployTarget {
  commit: string;
  fingerprint: string;
  /** Who asked: a GitHub login, or the local user for the CLI. */
  actor: string;
  trigger: DeployTrigger;
  release?: string | null;
  /** The App rollout it belongs to (state/rollouts.ts). */
  rolloutId?: number | null;
  /** The environment the plan put the stack in. */
  environment?: string | null;
  /** Why the plan deploys this target (shown with the deployment). */
  reasons?: readonly string[] | null;
  /** The commit's subject line, as its author wrote it (untrusted text). */
  commitSubject?: string | null;
  /** The source commits its release is made from (state/sources.ts). */
  sources?: readonly DeploymentSource[];
}

export interface Deployment extends DeployTarget {
  id: number;
  commit: string;
  fingerprint: string;
  actor: string;
  trigger: DeployTrigger;
  status: DeploymentStatus;
  error: string | null;
  createdAt: Date;
  startedAt: Date | null;
  finishedAt: Date | null;
  timings: Timings | null;
  release: string | null;
  /** The deployment this one retries (the original, never another retry). */
  retryOf: number | null;
  /** The App rollout it belongs to; null for the CLI's. */
  rolloutId: number | null;
  environment: string | null;
  /** The plan's reasons; empty when none were recorded. */
  reasons: string[];
  commitSubject: string | null;
}

export interface CommandLog {
  seq: number;
  command: string;
  /** null when the command never exited on its own (killed, timed out). */
  code: number | null;
  output: string;
  createdAt: Date;
}

export interface DeploymentWithLogs extends Deployment {
  logs: CommandLog[];
}

export interface FinishInput {
  status: FinishStatus;
  error?: string | null;
  timings?: Timings | null;
  release?: string | null;
}

export interface CommandLogInput {
  command: string;
  code: number | null;
  output: string;
}

export interface AppendedLog {
  seq: number;
  /** Bytes of output that were not stored. */
  omittedBytes: number;
}

export interface DeploymentFilter {
  repo?: string;
  stack?: string;
  host?: string;
  status?: DeploymentStatus;
  rolloutId?: number;
  /** Newest first; at most 1000. */
  limit: number;
}

/** A commit subject is a line; a longer one is cut (it is shown, never parsed). */
const MAX_SUBJECT_BYTES = 1024;

/** The lock whoever runs a deployment of this target holds; recoverInterrupted() reads it. */
export function deployLockKey(target: DeployTarget): string {
  return `deploy:${target.repo}:${target.stack}:${target.host}`;
}
/** deployLockKey() in SQL, for a deployments row aliased d. */
const DEPLOY_LOCK_KEY_SQL = "'deploy:' || d.repo || ':' || d.stack || ':' || d.host";

const SAME_TARGET_NEWER = "n.repo = d.repo AND n.stack = d.stack AND n.host = d.host AND n.id > d.id";

export async function createDeployment(db: Queryable, input: NewDeployment): Promise<number> {
  // One statement: the target's newest deployment (target_last, for the web UI's matrix, with its
  // status and environment: migration 0010's trigger keeps them) moves with the insert, whatever
  // runs around it; when two race, the newer id wins with its own status and environment.
  const [row] = await db.query(
    `WITH d AS (
       INSERT INTO deployments (repo, stack, host, commit_sha, fingerprint, actor, trigger, release_id, rollout_id,
                                environment, reasons, commit_subject)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11::text::jsonb, $12)
       RETURNING id, repo, stack, host, status, environment
     ), t AS (
       INSERT INTO target_last (repo, stack, host, deployment_id, status, environment)
       SELECT repo, stack, host, id, status, environment FROM d
       ON CONFLICT (repo, stack, host) DO UPDATE
         SET deployment_id = excluded.deployment_id, status = excluded.status, environment = excluded.environment
         WHERE excluded.deployment_id > target_last.deployment_id
     )
     SELECT id FROM d`,
    [
      input.repo,
      input.stack,
      input.host,
      input.commit,
      input.fingerprint,
      input.actor,
      input.trigger,
      input.release ?? null,
      input.rolloutId ?? null,
      input.environment ?? null,
      input.reasons ? JSON.stringify(input.reasons) : null,
      input.commitSubject ? boundText(input.commitSubject, MAX_SUBJECT_BYTES).text : null,
    ],
  );
  const id = toNumber(row?.id);
  if (input.sources?.length) await recordDeploymentSources(db, id, input.sources);
  return id;
}

/** queued -> running. False when the deployment is not queued (already started, superseded...). */
export async function startDeployment(db: Queryable, id: number): Promise<boolean> {
  const rows = await db.query(
    "UPDATE deployments SET status = 'running', started_at = now() WHERE id = $1 AND status = 'queued' RETURNING id",
    [id],
  );
  return rows.length === 1;
}

/**
 * queued or running -> an end status. False when it had already ended, e.g. when it was marked
 * interrupted after its deployer lost the lock: a late finish must not overwrite that.
 */
export async function finishDeployment(db: Queryable, id: number, input: FinishInput): Promise<boolean> {
  const rows = await db.query(
    `UPDATE deployments
        SET status = $2, error = $3, timings = $4::text::jsonb, finished_at = now(),
            release_id = COALESCE($5, release_id)
      WHERE id = $1 AND status IN ('queued', 'running')
      RETURNING id`,
    [
      id,
      input.status,
      input.error ?? null,
      input.timings ? JSON.stringify(input.timings) : null,
      input.release ?? null,
    ],
  );
  return rows.length === 1;
}

export async function appendCommandLog(
  db: Db,
  id: number,
  input: CommandLogInput,
  limits: LogLimits = DEFAULT_LOG_LIMITS,
): Promise<AppendedLog> {
  return db.transaction(async (tx) => {
    // The row lock orders concurrent appends to one deployment: seq and the byte budget stay exact.
    const [row] = await tx.query("SELECT log_bytes, log_count FROM deployments WHERE id = $1 FOR UPDATE", [
      id,
    ]);
    if (!row) throw new Error(`no deployment ${id}`);
    const remaining = limits.perDeploymentBytes - toNumber(row.log_bytes);
    const budget = Math.min(limits.perCommandBytes, remaining);
    let output: string;
    let omittedBytes: number;
    let countedBytes: number;
    if (budget <= 0) {
      omittedBytes = Buffer.byteLength(input.output);
      output = limitReachedMarker(omittedBytes, limits.perDeploymentBytes);
      countedBytes = 0;
    } else {
      ({ text: output, omittedBytes } = boundText(input.output, budget));
      countedBytes = Buffer.byteLength(output);
    }
    const seq = toNumber(row.log_count) + 1;
    await tx.query(
      "INSERT INTO deployment_logs (deployment_id, seq, command, exit_code, output) VALUES ($1, $2, $3, $4, $5)",
      [id, seq, boundText(input.command, MAX_COMMAND_TEXT_BYTES).text, input.code, output],
    );
    await tx.query("UPDATE deployments SET log_bytes = log_bytes + $2, log_count = $3 WHERE id = $1", [
      id,
      countedBytes,
      seq,
    ]);
    return { seq, omittedBytes };
  });
}

export async function getDeployment(db: Queryable, id: number): Promise<DeploymentWithLogs | undefined> {
  const [row] = await db.query("SELECT * FROM deployments WHERE id = $1", [id]);
  if (!row) return undefined;
  const logs = await db.query(
    "SELECT seq, command, exit_code, output, created_at FROM deployment_logs WHERE deployment_id = $1 ORDER BY seq",
    [id],
  );
  return { ...toDeployment(row), logs: logs.map(toCommandLog) };
}

export function toCommandLog(l: Row): CommandLog {
  return {
    seq: toNumber(l.seq),
    command: String(l.command),
    code: l.exit_code === null ? null : toNumber(l.exit_code),
    output: String(l.output),
    createdAt: toDate(l.created_at),
  };
}

export async function listDeployments(db: Queryable, filter: DeploymentFilter): Promise<Deployment[]> {
  const conditions: string[] = [];
  const params: unknown[] = [];
  for (const [column, value] of [
    ["repo", filter.repo],
    ["stack", filter.stack],
    ["host", filter.host],
    ["status", filter.status],
    ["rollout_id", filter.rolloutId],
  ] as const) {
    if (value === undefined) continue;
    params.push(value);
    conditions.push(`${column} = $${params.length}`);
  }
  params.push(Math.max(1, Math.min(1000, Math.floor(filter.limit))));
  const where = conditions.length ? `WHERE ${conditions.join(" AND ")}` : "";
  const rows = await db.query(
    `SELECT * FROM deployments ${where} ORDER BY id DESC LIMIT $${params.length}`,
    params,
  );
  return rows.map(toDeployment);
}

/**
 * queued -> superseded when a newer deployment of the same target exists: of several commits
 * waiting for one target, only the newest is worth deploying. A heal (drift/) never supersedes
 * anything: it redeploys what was recorded, and must not take the place of a deploy waiting to
 * change it. True when it was superseded.
 */
export async function supersedeIfStale(db: Queryable, id: number): Promise<boolean> {
  const rows = await db.query(
    `UPDATE deployments d SET status = 'superseded', finished_at = now()
      WHERE d.id = $1 AND d.status = 'queued'
        AND EXISTS (SELECT 1 FROM deployments n WHERE ${SAME_TARGET_NEWER} AND n.trigger <> 'heal')
      RETURNING d.id`,
    [id],
  );
  return rows.length === 1;
}

/**
 * Deployments that lost their deployer (crash, kill, lost network), marked interrupted, visibly,
 * and returned so the caller can say so: running ones whose target lock is gone or expired, and
 * queued ones of a rollout that ended or lost its lease (its process died before they started;
 * the rollout's retried job makes deployments of its own, so these would stay queued for ever).
 */
export async function recoverInterrupted(db: Queryable): Promise<Deployment[]> {
  const rows = await db.query(
    `UPDATE deployments d
        SET status = 'interrupted', error = CASE WHEN d.status = 'queued' THEN $2 ELSE $1 END,
            finished_at = now()
      WHERE (d.status = 'running'
             AND NOT EXISTS (SELECT 1 FROM locks l WHERE l.key = ${DEPLOY_LOCK_KEY_SQL} AND l.expires_at > now()))
         OR (d.status = 'queued' AND d.rollout_id IS NOT NULL
             AND EXISTS (SELECT 1 FROM rollouts r WHERE r.id = d.rollout_id
                          AND (r.status <> 'running'
                               OR NOT EXISTS (SELECT 1 FROM locks l
                                               WHERE l.key = ${ROLLOUT_LOCK_KEY_SQL} AND l.expires_at > now()))))
      RETURNING d.*`,
    [INTERRUPTED_ERROR, NEVER_STARTED_ERROR],
  );
  return rows.map(toDeployment).sort((a, b) => a.id - b.id);
}

/**
 * `/unlock` and the UI's Unlock: frees the target's database lock and, in the same statement, ends
 * the deployment that held it as `failed`, saying who unlocked it. Its deployer stops before its
 * next change (it lost the lock) and cannot overwrite this record; a deployer that takes the lock
 * next finds nothing running to mark interrupted. One statement, so no deployment that starts
 * after the unlock is touched. False when no lock was held.
 */
export async function unlockTarget(db: Queryable, target: DeployTarget, by: string): Promise<boolean> {
  const key = deployLockKey(target);
  const rows = await db.query(
    `WITH freed AS (DELETE FROM locks WHERE key = $1 RETURNING key),
          cut AS (UPDATE deployments SET status = 'failed', error = $5, finished_at = now()
                   WHERE repo = $2 AND stack = $3 AND host = $4 AND status = 'running'
                     AND EXISTS (SELECT 1 FROM freed)
                   RETURNING id)
     SELECT (SELECT count(*) FROM freed) AS freed, (SELECT count(*) FROM cut) AS cut`,
    [key, target.repo, target.stack, target.host, `lost the lock ${key}: unlocked by ${by}`],
  );
  return Number(rows[0]?.freed ?? 0) > 0;
}

/**
 * Called by the deployer that now holds the target's lock: any other deployment of the target
 * still `running` lost its deployer (whoever held the lock before it lapsed), so it is marked
 * interrupted at once rather than at the next recovery round. Returns them.
 */
export async function interruptOthers(
  db: Queryable,
  target: DeployTarget,
  self: number,
): Promise<Deployment[]> {
  const rows = await db.query(
    `UPDATE deployments SET status = 'interrupted', error = $5, finished_at = now()
      WHERE repo = $1 AND stack = $2 AND host = $3 AND id <> $4 AND status = 'running'
      RETURNING *`,
    [target.repo, target.stack, target.host, self, INTERRUPTED_ERROR],
  );
  return rows.map(toDeployment);
}

export function toDeployment(row: Row): Deployment {
  return {
    id: toNumber(row.id),
    repo: String(row.repo),
    stack: String(row.stack),
    host: String(row.host),
    commit: String(row.commit_sha),
    fingerprint: String(row.fingerprint),
    actor: String(row.actor),
    trigger: row.trigger as DeployTrigger,
    status: row.status as DeploymentStatus,
    error: toStringOrNull(row.error),
    createdAt: toDate(row.created_at),
    startedAt: toDateOrNull(row.started_at),
    finishedAt: toDateOrNull(row.finished_at),
    timings: (row.timings ?? null) as Timings | null,
    release: toStringOrNull(row.release_id),
    retryOf: row.retry_of === null || row.retry_of === undefined ? null : toNumber(row.retry_of),
    rolloutId: row.rollout_id === null || row.rollout_id === undefined ? null : toNumber(row.rollout_id),
    environment: toStringOrNull(row.environment),
    reasons: Array.isArray(row.reasons) ? row.reasons.map(String) : [],
    commitSubject: toStringOrNull(row.commit_subject),
  };
}
