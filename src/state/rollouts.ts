/**
 * App rollouts: one environment's share of a plan, with the GitHub Deployment and check run that
 * show it. Its process holds the lease `rollout:<id>` while it runs; one whose lease lapsed lost
 * its process and is marked interrupted by whoever finds it (github/recovery.ts), which then
 * finishes what GitHub shows. `reported` says GitHub shows the final status.
 */
import { type Queryable, type Row, toDate, toDateOrNull, toNumber, toStringOrNull } from "./db.ts";

export const ROLLOUT_STATUSES = ["running", "succeeded", "failed", "interrupted"] as const;
export type RolloutStatus = (typeof ROLLOUT_STATUSES)[number];

export interface NewRollout {
  repo: string;
  installationId: number;
  environment: string;
  commit: string;
  trigger: string;
  actor: string;
}

export interface Rollout extends NewRollout {
  id: number;
  githubDeploymentId: number | null;
  checkRunId: number | null;
  status: RolloutStatus;
  error: string | null;
  reported: boolean;
  createdAt: Date;
  finishedAt: Date | null;
}

/** The lease a rollout's process holds while it runs. */
export const rolloutLockKey = (id: number) => `rollout:${id}`;
/** `rolloutLockKey` in SQL, of a `rollouts` row aliased `r`. */
export const ROLLOUT_LOCK_KEY_SQL = "'rollout:' || r.id";

export async function createRollout(db: Queryable, input: NewRollout): Promise<number> {
  const [row] = await db.query(
    `INSERT INTO rollouts (repo, installation_id, environment, commit_sha, trigger, actor)
     VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`,
    [input.repo, input.installationId, input.environment, input.commit, input.trigger, input.actor],
  );
  return toNumber(row?.id);
}

/** Remembers the GitHub objects as soon as they exist, so a rollout that dies can still finish them. */
export async function setRolloutGithub(
  db: Queryable,
  id: number,
  ids: { githubDeploymentId?: number; checkRunId?: number },
): Promise<void> {
  await db.query(
    `UPDATE rollouts SET github_deployment_id = COALESCE($2, github_deployment_id),
                         check_run_id = COALESCE($3, check_run_id)
      WHERE id = $1`,
    [id, ids.githubDeploymentId ?? null, ids.checkRunId ?? null],
  );
}

/** running -> its end; `reported` when GitHub already shows it. False when it had ended already. */
export async function finishRollout(
  db: Queryable,
  id: number,
  result: { status: Exclude<RolloutStatus, "running">; error?: string | null; reported: boolean },
): Promise<boolean> {
  const rows = await db.query(
    `UPDATE rollouts SET status = $2, error = $3, reported = $4, finished_at = now()
      WHERE id = $1 AND status = 'running' RETURNING id`,
    [id, result.status, result.error ?? null, result.reported],
  );
  return rows.length === 1;
}

export async function markRolloutReported(db: Queryable, id: number): Promise<void> {
  await db.query("UPDATE rollouts SET reported = true WHERE id = $1", [id]);
}

/**
 * Running rollouts whose lease lapsed lost their process: marked interrupted. Returns every
 * ended rollout GitHub does not show as ended yet (these, and earlier ones whose report failed).
 */
export async function interruptedRollouts(db: Queryable, error: string): Promise<Rollout[]> {
  await db.query(
    `UPDATE rollouts r SET status = 'interrupted', error = $1, finished_at = now()
      WHERE r.status = 'running'
        AND NOT EXISTS (SELECT 1 FROM locks l WHERE l.key = ${ROLLOUT_LOCK_KEY_SQL} AND l.expires_at > now())`,
    [error],
  );
  const rows = await db.query(
    "SELECT * FROM rollouts WHERE status <> 'running' AND NOT reported ORDER BY id",
  );
  return rows.map(toRollout);
}

export async function getRollout(db: Queryable, id: number): Promise<Rollout | undefined> {
  const [row] = await db.query("SELECT * FROM rollouts WHERE id = $1", [id]);
  return row ? toRollout(row) : undefined;
}

function toRollout(row: Row): Rollout {
  return {
    id: toNumber(row.id),
    repo: String(row.repo),
    installationId: toNumber(row.installation_id),
    environment: String(row.environment),
    commit: String(row.commit_sha),
    trigger: String(row.trigger),
    actor: String(row.actor),
    githubDeploymentId: row.github_deployment_id == null ? null : toNumber(row.github_deployment_id),
    checkRunId: row.check_run_id == null ? null : toNumber(row.check_run_id),
    status: row.status as RolloutStatus,
    error: toStringOrNull(row.error),
    reported: row.reported === true,
    createdAt: toDate(row.created_at),
    finishedAt: toDateOrNull(row.finished_at),
  };
}
