/**
 * What runs where: per (repo, stack, host), the fingerprint and commit last deployed. The plan
 * compares against it to decide what to deploy; a pinned host (rolled back) is left alone by
 * automatic deploys until someone deploys it explicitly.
 */
import { type Queryable, type Row, toDate, toNumber, toStringOrNull } from "./db.ts";
import type { DeployTarget } from "./deployments.ts";

/**
 * What a deploy left running, read from its final health poll: per service of the release, the
 * compose config hash and image id of its containers and how many there were. Drift detection
 * (deploy/liveState.ts) compares what runs later against it.
 */
export interface ExpectedContainers {
  project: string;
  services: Record<string, { configHash: string; image: string; containers: number }>;
}

export interface DeployedState {
  stack: string;
  host: string;
  fingerprint: string;
  commit: string;
  pinned: boolean;
  release: string | null;
  deployedAt: Date;
  deploymentId: number | null;
  /** null: recorded by a version that did not keep it (only `current` is compared then). */
  expected: ExpectedContainers | null;
}

export interface SetDeployedInput extends DeployTarget {
  fingerprint: string;
  commit: string;
  release?: string | null;
  deploymentId?: number | null;
  /** What the deploy left running; a record without it replaces an older one's. */
  expected?: ExpectedContainers | null;
  /**
   * true for a rollback, false for an explicit deploy (which clears a pin); left out, an
   * existing pin stays as it is.
   */
  pinned?: boolean;
}

export async function getDeployed(db: Queryable, repo: string): Promise<DeployedState[]> {
  const rows = await db.query("SELECT * FROM deployed WHERE repo = $1 ORDER BY stack, host", [repo]);
  return rows.map(toDeployedState);
}

export async function setDeployed(db: Queryable, input: SetDeployedInput): Promise<void> {
  await db.query(
    `INSERT INTO deployed (repo, stack, host, fingerprint, commit_sha, release_id, deployment_id, pinned, deployed_at, expected)
     VALUES ($1, $2, $3, $4, $5, $6, $7, COALESCE($8, false), now(), $9::text::jsonb)
     ON CONFLICT (repo, stack, host) DO UPDATE
       SET fingerprint = excluded.fingerprint, commit_sha = excluded.commit_sha, release_id = excluded.release_id,
           deployment_id = excluded.deployment_id, deployed_at = excluded.deployed_at,
           pinned = COALESCE($8, deployed.pinned), expected = excluded.expected`,
    [
      input.repo,
      input.stack,
      input.host,
      input.fingerprint,
      input.commit,
      input.release ?? null,
      input.deploymentId ?? null,
      input.pinned ?? null,
      input.expected ? JSON.stringify(input.expected) : null,
    ],
  );
}

/** Sets or clears the pin of a deployed target; false when nothing is deployed there. */
export async function setPinned(db: Queryable, target: DeployTarget, pinned: boolean): Promise<boolean> {
  const rows = await db.query(
    "UPDATE deployed SET pinned = $4 WHERE repo = $1 AND stack = $2 AND host = $3 RETURNING repo",
    [target.repo, target.stack, target.host, pinned],
  );
  return rows.length === 1;
}

function toDeployedState(row: Row): DeployedState {
  return {
    stack: String(row.stack),
    host: String(row.host),
    fingerprint: String(row.fingerprint),
    commit: String(row.commit_sha),
    pinned: row.pinned === true,
    release: toStringOrNull(row.release_id),
    deployedAt: toDate(row.deployed_at),
    deploymentId:
      row.deployment_id === null || row.deployment_id === undefined ? null : toNumber(row.deployment_id),
    expected: (row.expected ?? null) as ExpectedContainers | null,
  };
}
