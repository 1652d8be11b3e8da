/**
 * Stacks stopped on purpose (`stackpilot stop`, `/stop`): no plan starts them again, whatever
 * triggers it (a push, a procedure, a batch deploy-if-changed), until `stackpilot start`. Drift
 * self-heal reads the same records (`isStopped`, `listStopped`) and leaves such stacks stopped.
 */
import type { Queryable, Row } from "./db.ts";
import { toDate } from "./db.ts";
import type { DeployTarget } from "./deployments.ts";

export interface StoppedStack extends DeployTarget {
  actor: string;
  stoppedAt: Date;
}

/** Records the stop (again: the latest actor and time). */
export async function markStopped(db: Queryable, target: DeployTarget, actor: string): Promise<void> {
  await db.query(
    `INSERT INTO stopped_stacks (repo, stack, host, actor) VALUES ($1, $2, $3, $4)
     ON CONFLICT (repo, stack, host) DO UPDATE SET actor = excluded.actor, stopped_at = now()`,
    [target.repo, target.stack, target.host, actor],
  );
}

/** Forgets the stop; false when the stack was not stopped there. */
export async function clearStopped(db: Queryable, target: DeployTarget): Promise<boolean> {
  const rows = await db.query(
    "DELETE FROM stopped_stacks WHERE repo = $1 AND stack = $2 AND host = $3 RETURNING stack",
    [target.repo, target.stack, target.host],
  );
  return rows.length === 1;
}

export async function isStopped(db: Queryable, target: DeployTarget): Promise<boolean> {
  const rows = await db.query("SELECT 1 FROM stopped_stacks WHERE repo = $1 AND stack = $2 AND host = $3", [
    target.repo,
    target.stack,
    target.host,
  ]);
  return rows.length === 1;
}

/** Every stopped (stack, host), of one repository or all. */
export async function listStopped(db: Queryable, repo?: string): Promise<StoppedStack[]> {
  const rows = await db.query(
    "SELECT * FROM stopped_stacks WHERE ($1::text IS NULL OR repo = $1) ORDER BY repo, stack, host",
    [repo ?? null],
  );
  return rows.map(toStopped);
}

function toStopped(row: Row): StoppedStack {
  return {
    repo: String(row.repo),
    stack: String(row.stack),
    host: String(row.host),
    actor: String(row.actor),
    stoppedAt: toDate(row.stopped_at),
  };
}
