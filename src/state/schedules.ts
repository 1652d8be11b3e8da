/**
 * Procedures with a `schedule`, as the default branch of each repository last said (registered
 * whenever the App reads that branch's rules), and the slots fired: each (procedure, slot) fires
 * once, whichever replica inserts it first.
 */
import type { Queryable, Row } from "./db.ts";
import { toNumber } from "./db.ts";
import type { RunRepoRef } from "./procedureRuns.ts";

export interface Schedule {
  repo: string;
  procedure: string;
  cron: string;
  timezone: string | null;
  repoRef: RunRepoRef;
}

/** Replaces a repository's schedules with these. */
export async function setSchedules(
  db: Queryable,
  repoRef: RunRepoRef,
  schedules: readonly { procedure: string; cron: string; timezone?: string | undefined }[],
): Promise<void> {
  const names = schedules.map((s) => s.procedure);
  await db.query("DELETE FROM procedure_schedules WHERE repo = $1 AND NOT (procedure = ANY($2::text[]))", [
    repoRef.fullName,
    names,
  ]);
  for (const s of schedules)
    await db.query(
      `INSERT INTO procedure_schedules (repo, procedure, cron, timezone, repo_ref) VALUES ($1, $2, $3, $4, $5::text::jsonb)
       ON CONFLICT (repo, procedure) DO UPDATE SET cron = excluded.cron, timezone = excluded.timezone,
         repo_ref = excluded.repo_ref, updated_at = now()
       WHERE (procedure_schedules.cron, procedure_schedules.timezone, procedure_schedules.repo_ref::text)
             IS DISTINCT FROM (excluded.cron, excluded.timezone, excluded.repo_ref::text)`,
      [repoRef.fullName, s.procedure, s.cron, s.timezone ?? null, JSON.stringify(repoRef)],
    );
}

export async function listSchedules(db: Queryable): Promise<Schedule[]> {
  const rows = await db.query("SELECT * FROM procedure_schedules ORDER BY repo, procedure");
  return rows.map((r: Row) => ({
    repo: String(r.repo),
    procedure: String(r.procedure),
    cron: String(r.cron),
    timezone: r.timezone == null ? null : String(r.timezone),
    repoRef: r.repo_ref as RunRepoRef,
  }));
}

/** True for the one caller that claims this slot first. */
export async function claimSlot(
  db: Queryable,
  repo: string,
  procedure: string,
  slot: Date,
): Promise<boolean> {
  const rows = await db.query(
    `INSERT INTO procedure_schedule_fires (repo, procedure, slot) VALUES ($1, $2, $3)
     ON CONFLICT DO NOTHING RETURNING slot`,
    [repo, procedure, slot.toISOString()],
  );
  return rows.length === 1;
}

export async function setSlotRun(db: Queryable, repo: string, procedure: string, slot: Date, runId: number) {
  await db.query(
    "UPDATE procedure_schedule_fires SET run_id = $4 WHERE repo = $1 AND procedure = $2 AND slot = $3",
    [repo, procedure, slot.toISOString(), toNumber(runId)],
  );
}
