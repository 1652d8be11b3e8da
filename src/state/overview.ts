/**
 * Reads for the web UI (src/ui): what runs where per repository, the commands a deployment has
 * recorded since a point (its live log), the deployments running now. Read-only.
 */
import { type Queryable, toDate, toDateOrNull, toNumber, toStringOrNull } from "./db.ts";
import {
  type CommandLog,
  type Deployment,
  type DeploymentStatus,
  toCommandLog,
  toDeployment,
} from "./deployments.ts";
import type { DriftState } from "./drift.ts";

/**
 * One (stack, host) of a repository as the web UI's matrix shows it: what is deployed there, how
 * its last deployment went, its last drift check. Only what the matrix shows: it is read for
 * every target of a repository on every page view.
 */
export interface TargetOverview {
  stack: string;
  host: string;
  /** The environment of its last deployment (or of the deployment that put it there). */
  environment: string | null;
  /** `deploymentId`: the deployment that put it there (commitOfDeployed), when recorded. */
  deployed: { commit: string; deployedAt: Date; pinned: boolean; deploymentId: number | null } | null;
  last: { id: number; status: DeploymentStatus } | null;
  /** Its last drift check (drift.ts), while it is recorded as deployed; null: never checked. */
  drift: { state: DriftState; details: string[] } | null;
}

/** Every known repository, in order: a skip scan of the indexes that lead with `repo`. */
export async function knownRepos(db: Queryable): Promise<string[]> {
  const rows = await db.query(
    `WITH RECURSIVE d(repo) AS (
       SELECT min(repo) FROM deployments
        UNION ALL SELECT (SELECT min(repo) FROM deployments WHERE repo > d.repo) FROM d WHERE d.repo IS NOT NULL
     ), p(repo) AS (
       SELECT min(repo) FROM deployed
        UNION ALL SELECT (SELECT min(repo) FROM deployed WHERE repo > p.repo) FROM p WHERE p.repo IS NOT NULL
     )
     SELECT repo FROM d WHERE repo IS NOT NULL UNION SELECT repo FROM p WHERE repo IS NOT NULL ORDER BY repo`,
  );
  return rows.map((r) => String(r.repo));
}

/** Every target of a repository (`t`), with what the matrix shows of it. */
const TARGETS = `WITH last AS (
       SELECT deployment_id AS id, stack, host, status, environment FROM target_last WHERE repo = $1
     ), t AS (
       SELECT COALESCE(l.stack, d.stack) AS stack, COALESCE(l.host, d.host) AS host,
              -- Asked only of targets whose last deployment has none (COALESCE stops at the first).
              COALESCE(l.environment, (SELECT e.environment FROM deployments e WHERE e.id = d.deployment_id))
                AS environment,
              d.commit_sha, d.deployed_at, d.pinned, d.deployment_id AS placed_by, l.id, l.status, c.state, c.details
         FROM last l
         FULL JOIN (SELECT * FROM deployed WHERE repo = $1) d ON d.stack = l.stack AND d.host = l.host
         LEFT JOIN drift_checks c ON c.repo = $1 AND c.stack = d.stack AND c.host = d.host
     )`;

/**
 * Every target of a repository that has a deployed record or a deployment, by stack and host.
 * The last deployment per target, its status and environment, come from target_last (migrations
 * 0009, 0010), written with each deployment and kept by a trigger: the query reads no deployments
 * row (but for the environment of a target known only as deployed), not the repository's history.
 *
 * The targets come back as one text value, a record per target joined by control characters
 * (RS between records, US between fields), on both backends. Measured on 10,000 targets
 * (bench/ui.bench.ts; PGlite's WASM runs without tier-up): a row each cost PGlite ~330 ms to
 * decode in JavaScript, one json_agg ~150 ms (building JSON and printing timestamps is most of
 * it), this ~50-60 ms (with target_last's status); Postgres is no slower for it. A name holding a
 * separator cannot be split back: then the record or field count comes out wrong and the JSON
 * form is read instead. Sorted here rather than in SQL: PGlite's ordered aggregate cost ~20 ms.
 */
export async function targetsOverview(db: Queryable, repo: string): Promise<TargetOverview[]> {
  const [row] = await db.query<{ n: number | string; targets: string | null }>(
    `${TARGETS}
     SELECT count(*) AS n,
            string_agg(concat_ws(chr(31), stack, host, COALESCE(environment, ''), COALESCE(commit_sha, ''),
                                 COALESCE(date_part('epoch', deployed_at)::text, ''), CASE WHEN pinned THEN 't' ELSE '' END,
                                 COALESCE(placed_by::text, ''),
                                 COALESCE(id::text, ''), COALESCE(status, ''), COALESCE(state, ''),
                                 -- An in-sync check found nothing: its details are not read.
                                 CASE WHEN state <> 'in_sync' THEN details::text ELSE '' END),
                       chr(30)) AS targets
       FROM t`,
    [repo],
  );
  const targets = splitTargets(row?.targets ?? null, toNumber(row?.n ?? 0));
  if (targets) return targets.sort(byTarget);
  const [json] = await db.query<{ targets: string | null }>(
    `${TARGETS}
     SELECT json_agg(json_build_array(stack, host, environment, commit_sha, deployed_at, pinned, placed_by, id, status,
                                      state, details)
                     ORDER BY stack, host)::text AS targets
       FROM t`,
    [repo],
  );
  return (JSON.parse(json?.targets ?? "[]") as OverviewTuple[]).map(toTargetOverview);
}

const FIELDS = 11;
/** One record of the text form: FIELDS strings, in the query's order. */
type TextRecord = [string, string, string, string, string, string, string, string, string, string, string];

/** targetsOverview's text form back into targets; undefined when a value held a separator. */
function splitTargets(text: string | null, count: number): TargetOverview[] | undefined {
  if (text === null) return count === 0 ? [] : undefined;
  const records = text.split("\x1e");
  if (records.length !== count) return undefined;
  const out: TargetOverview[] = [];
  for (const record of records) {
    const f = record.split("\x1f");
    if (f.length !== FIELDS) return undefined;
    const [stack, host, environment, commit, epoch, pinned, placedBy, id, status, state, details] =
      f as TextRecord;
    out.push(
      toTargetOverview([
        stack,
        host,
        environment || null,
        commit || null,
        epoch ? new Date(Number(epoch) * 1000) : null,
        pinned === "t",
        placedBy || null,
        id || null,
        (status || null) as DeploymentStatus | null,
        (state || null) as DriftState | null,
        details ? JSON.parse(details) : [],
      ]),
    );
  }
  return out;
}

/** One target as targetsOverview's JSON form holds it (json_build_array's order). */
type OverviewTuple = [
  stack: string,
  host: string,
  environment: string | null,
  deployedCommit: string | null,
  deployedAt: string | Date | null,
  pinned: boolean | null,
  placedBy: number | string | null,
  lastId: number | string | null,
  lastStatus: DeploymentStatus | null,
  driftState: DriftState | null,
  driftDetails: unknown,
];

function toTargetOverview(t: OverviewTuple): TargetOverview {
  const [
    stack,
    host,
    environment,
    deployedCommit,
    deployedAt,
    pinned,
    placedBy,
    lastId,
    lastStatus,
    driftState,
    details,
  ] = t;
  return {
    stack: String(stack),
    host: String(host),
    environment: toStringOrNull(environment),
    deployed:
      deployedCommit === null
        ? null
        : {
            commit: deployedCommit,
            deployedAt: toDate(deployedAt),
            pinned: pinned === true,
            deploymentId: placedBy === null ? null : toNumber(placedBy),
          },
    last: lastId === null ? null : { id: toNumber(lastId), status: lastStatus as DeploymentStatus },
    drift:
      driftState === null
        ? null
        : { state: driftState, details: Array.isArray(details) ? details.map(String) : [] },
  };
}

/**
 * The repository and commit a deployment put on its target, while that target still runs it
 * (`deployed.deployment_id`): what the matrix's commit links resolve to. A rollback's record holds
 * the release's commit, not the rollback deployment's own, hence deployed and not deployments.
 */
export async function commitOfDeployed(
  db: Queryable,
  deploymentId: number,
): Promise<{ repo: string; commit: string } | undefined> {
  const [row] = await db.query("SELECT repo, commit_sha FROM deployed WHERE deployment_id = $1 LIMIT 1", [
    deploymentId,
  ]);
  return row ? { repo: String(row.repo), commit: String(row.commit_sha) } : undefined;
}

/** By stack, then host, in code-unit order (the text form's records come unsorted). */
function byTarget(a: TargetOverview, b: TargetOverview): number {
  if (a.stack !== b.stack) return a.stack < b.stack ? -1 : 1;
  return a.host < b.host ? -1 : a.host > b.host ? 1 : 0;
}

export interface DeploymentProgress {
  repo: string;
  status: DeploymentStatus;
  error: string | null;
  startedAt: Date | null;
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
  const [row] = await db.query(
    "SELECT repo, status, error, started_at, finished_at FROM deployments WHERE id = $1",
    [id],
  );
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
    startedAt: toDateOrNull(row.started_at),
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
