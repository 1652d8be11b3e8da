/**
 * Drift detection's state: the last check of each (repo, stack, host) with what differed and what
 * healing did, so `stackpilot status` and pages show it without asking hosts; the heals a target
 * had (deployments with the trigger `heal`), for the heal limits; and the installation each
 * repository was last deployed with, so the App's drift rounds can read its default branch.
 */
import { type Queryable, type Row, toDate, toDateOrNull, toNumber, toStringOrNull } from "./db.ts";
import type { DeploymentStatus, DeployTarget } from "./deployments.ts";

export const DRIFT_STATES = ["in_sync", "drifted", "unreachable"] as const;
export type DriftState = (typeof DRIFT_STATES)[number];

/**
 * What healing did last: `healing` (a heal runs), `healed`, `failed` (it is retried within the
 * limit), `superseded` (the record changed while it waited), `given_up` (until `until`), `refused` (the rules or the hosts file do not allow the
 * deploy), `not_healable` (only what a redeploy cannot repair differs).
 */
export type HealOutcome =
  | "healing"
  | "healed"
  | "failed"
  | "superseded"
  | "given_up"
  | "refused"
  | "not_healable";

export interface HealState {
  outcome: HealOutcome;
  detail: string | null;
  until: Date | null;
}

export interface NewDriftCheck extends DeployTarget {
  state: DriftState;
  /** The differences (drifted), the error (unreachable) or notes (in sync). */
  details: string[];
  /** The recorded commit the host was compared with. */
  commit: string;
}

export interface DriftCheck extends NewDriftCheck {
  checkedAt: Date;
  /** Since when the target has been in this state (at this commit). */
  since: Date;
  heal: HealState | null;
}

/**
 * Records a check; returns the state the target was in before (undefined: never checked, or
 * checked at another commit). A heal state stays until the target is back in sync.
 */
export async function recordDriftCheck(
  db: Queryable,
  input: NewDriftCheck,
): Promise<{ previous: DriftState | undefined }> {
  const [before] = await db.query(
    "SELECT state, commit_sha FROM drift_checks WHERE repo = $1 AND stack = $2 AND host = $3",
    [input.repo, input.stack, input.host],
  );
  await db.query(
    `INSERT INTO drift_checks (repo, stack, host, state, details, commit_sha, checked_at, since)
     VALUES ($1, $2, $3, $4, $5::text::jsonb, $6, now(), now())
     ON CONFLICT (repo, stack, host) DO UPDATE
       SET state = excluded.state, details = excluded.details, commit_sha = excluded.commit_sha,
           checked_at = excluded.checked_at,
           since = CASE WHEN drift_checks.state = excluded.state AND drift_checks.commit_sha = excluded.commit_sha
                        THEN drift_checks.since ELSE excluded.since END,
           heal = CASE WHEN excluded.state = 'in_sync' THEN NULL ELSE drift_checks.heal END,
           heal_detail = CASE WHEN excluded.state = 'in_sync' THEN NULL ELSE drift_checks.heal_detail END,
           heal_until = CASE WHEN excluded.state = 'in_sync' THEN NULL ELSE drift_checks.heal_until END`,
    [input.repo, input.stack, input.host, input.state, JSON.stringify(input.details), input.commit],
  );
  const previous =
    before && String(before.commit_sha) === input.commit ? (String(before.state) as DriftState) : undefined;
  return { previous };
}

export async function setHealState(db: Queryable, target: DeployTarget, heal: HealState): Promise<void> {
  await db.query(
    "UPDATE drift_checks SET heal = $4, heal_detail = $5, heal_until = $6 WHERE repo = $1 AND stack = $2 AND host = $3",
    [target.repo, target.stack, target.host, heal.outcome, heal.detail, heal.until],
  );
}

/** Last checks, of one repository or all; only of targets still recorded as deployed. */
export async function listDriftChecks(db: Queryable, repo?: string): Promise<DriftCheck[]> {
  const rows = await db.query(
    `SELECT c.* FROM drift_checks c
       JOIN deployed d ON d.repo = c.repo AND d.stack = c.stack AND d.host = c.host
      ${repo === undefined ? "" : "WHERE c.repo = $1"}
      ORDER BY c.repo, c.stack, c.host`,
    repo === undefined ? [] : [repo],
  );
  return rows.map(toDriftCheck);
}

/** Checks of targets no longer deployed (removed, pruned) are forgotten. */
export async function pruneDriftChecks(db: Queryable): Promise<number> {
  const rows = await db.query(
    `DELETE FROM drift_checks c WHERE NOT EXISTS
       (SELECT 1 FROM deployed d WHERE d.repo = c.repo AND d.stack = c.stack AND d.host = c.host)
     RETURNING c.repo`,
  );
  return rows.length;
}

export interface HealAttempt {
  id: number;
  status: DeploymentStatus;
  createdAt: Date;
}

/** A target's heals, newest first, created within `sinceMs` of now (the database's clock). */
export async function healAttempts(
  db: Queryable,
  target: DeployTarget,
  sinceMs: number,
): Promise<HealAttempt[]> {
  const rows = await db.query(
    `SELECT id, status, created_at FROM deployments
      WHERE repo = $1 AND stack = $2 AND host = $3 AND trigger = 'heal'
        AND created_at > now() - $4 * interval '1 millisecond'
      ORDER BY id DESC LIMIT 100`,
    [target.repo, target.stack, target.host, sinceMs],
  );
  return rows.map((r) => ({
    id: toNumber(r.id),
    status: String(r.status) as DeploymentStatus,
    createdAt: toDate(r.created_at),
  }));
}

/** queued -> superseded with a reason (a heal whose record changed while it waited); false when not queued. */
export async function supersedeDeployment(db: Queryable, id: number, reason: string): Promise<boolean> {
  const rows = await db.query(
    `UPDATE deployments SET status = 'superseded', error = $2, finished_at = now()
      WHERE id = $1 AND status = 'queued' RETURNING id`,
    [id, reason],
  );
  return rows.length === 1;
}

/**
 * Repositories with deployed records and the installation that last rolled one out (the App's
 * rollouts keep it; null for a repository only the CLI deployed into this database): what the
 * drift rounds need to read a repository's default branch.
 */
export async function deployedInstallations(
  db: Queryable,
): Promise<{ repo: string; installationId: number | null }[]> {
  const rows = await db.query(
    `SELECT d.repo, l.installation_id
       FROM (SELECT DISTINCT repo FROM deployed) d
       LEFT JOIN (SELECT DISTINCT ON (repo) repo, installation_id FROM rollouts ORDER BY repo, id DESC) l
         ON l.repo = d.repo
      ORDER BY d.repo`,
  );
  return rows.map((r) => ({
    repo: String(r.repo),
    installationId: r.installation_id === null ? null : toNumber(r.installation_id),
  }));
}

function toDriftCheck(row: Row): DriftCheck {
  const outcome = toStringOrNull(row.heal);
  return {
    repo: String(row.repo),
    stack: String(row.stack),
    host: String(row.host),
    state: String(row.state) as DriftState,
    details: (row.details ?? []) as string[],
    commit: String(row.commit_sha),
    checkedAt: toDate(row.checked_at),
    since: toDate(row.since),
    heal: outcome
      ? {
          outcome: outcome as HealOutcome,
          detail: toStringOrNull(row.heal_detail),
          until: toDateOrNull(row.heal_until),
        }
      : null,
  };
}
