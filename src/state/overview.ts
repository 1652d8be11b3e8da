/**
 * Reads for the web UI (src/ui): what runs where per repository, the commands a deployment has
 * recorded since a point (its live log), the deployments running now. Read-only.
 */
import { type Queryable, toDate, toDateOrNull, toNumber } from "./db.ts";
import {
  type CommandLog,
  type Deployment,
  type DeploymentStatus,
  toCommandLog,
  toDeployment,
} from "./deployments.ts";

/** One (stack, host) of a repository: what is deployed there and how its last deployment went. */
export interface TargetOverview {
  stack: string;
  host: string;
  /** The environment of its last deployment (or of the deployment that put it there). */
  environment: string | null;
  deployed: { commit: string; deployedAt: Date; pinned: boolean; deploymentId: number | null } | null;
  last: { id: number; status: DeploymentStatus; commit: string; createdAt: Date } | null;
}

/**
 * Every target of a repository that has a deployed record or a deployment, by stack and host.
 * The last deployment per target comes from the (repo, stack, host, id DESC) index.
 */
export async function targetsOverview(db: Queryable, repo: string): Promise<TargetOverview[]> {
  const rows = await db.query(
    `WITH last AS (
       SELECT DISTINCT ON (stack, host) id, stack, host, status, commit_sha, created_at, environment
         FROM deployments WHERE repo = $1
        ORDER BY stack, host, id DESC
     )
     SELECT COALESCE(l.stack, d.stack) AS stack, COALESCE(l.host, d.host) AS host,
            COALESCE(l.environment, e.environment) AS environment,
            d.commit_sha AS deployed_commit, d.deployed_at, d.pinned, d.deployment_id,
            l.id AS last_id, l.status AS last_status, l.commit_sha AS last_commit, l.created_at AS last_at
       FROM last l
       FULL JOIN (SELECT * FROM deployed WHERE repo = $1) d ON d.stack = l.stack AND d.host = l.host
       LEFT JOIN deployments e ON e.id = d.deployment_id
      ORDER BY 1, 2`,
    [repo],
  );
  return rows.map((r) => ({
    stack: String(r.stack),
    host: String(r.host),
    environment: r.environment === null || r.environment === undefined ? null : String(r.environment),
    deployed:
      r.deployed_commit === null || r.deployed_commit === undefined
        ? null
        : {
            commit: String(r.deployed_commit),
            deployedAt: toDate(r.deployed_at),
            pinned: r.pinned === true,
            deploymentId: r.deployment_id === null ? null : toNumber(r.deployment_id),
          },
    last:
      r.last_id === null || r.last_id === undefined
        ? null
        : {
            id: toNumber(r.last_id),
            status: r.last_status as DeploymentStatus,
            commit: String(r.last_commit),
            createdAt: toDate(r.last_at),
          },
  }));
}

/** Every repository the store knows (deployed somewhere, or with a deployment). */
export async function knownRepos(db: Queryable): Promise<string[]> {
  const rows = await db.query("SELECT repo FROM deployed UNION SELECT repo FROM deployments ORDER BY repo");
  return rows.map((r) => String(r.repo));
}

export interface DeploymentProgress {
  repo: string;
  status: DeploymentStatus;
  error: string | null;
  finishedAt: Date | null;
  /** Commands recorded after the given seq, oldest first. */
  logs: CommandLog[];
}

/** A deployment's state and the commands it recorded after `afterSeq` (at most `limit`). */
export async function deploymentProgress(
  db: Queryable,
  id: number,
  afterSeq: number,
  limit: number,
): Promise<DeploymentProgress | undefined> {
  const [row] = await db.query("SELECT repo, status, error, finished_at FROM deployments WHERE id = $1", [
    id,
  ]);
  if (!row) return undefined;
  const logs = await db.query(
    `SELECT seq, command, exit_code, output, created_at FROM deployment_logs
      WHERE deployment_id = $1 AND seq > $2 ORDER BY seq LIMIT $3`,
    [id, afterSeq, limit],
  );
  return {
    repo: String(row.repo),
    status: row.status as DeploymentStatus,
    error: row.error === null || row.error === undefined ? null : String(row.error),
    finishedAt: toDateOrNull(row.finished_at),
    logs: logs.map(toCommandLog),
  };
}

/** The newest queued or running deployment of every target that has one. */
export async function activeDeployments(db: Queryable): Promise<Deployment[]> {
  const rows = await db.query(
    `SELECT DISTINCT ON (repo, stack, host) * FROM deployments
      WHERE status IN ('queued', 'running') ORDER BY repo, stack, host, id DESC`,
  );
  return rows.map(toDeployment);
}
