/**
 * Procedure runs and their steps (src/procedures): created by a trigger, a push, a schedule, the
 * CLI or a PR command; queued on the shared pg-boss; run by one worker at a time per coalescing
 * key. A step's row says where a run is: a step that ended is never run again, so a run resumed
 * after a restart goes on at the next step.
 */
import { type Db, type Queryable, type Row, toDate, toDateOrNull, toNumber, toStringOrNull } from "./db.ts";

export const RUN_SOURCES = ["trigger", "push", "schedule", "cli", "command"] as const;
export type RunSource = (typeof RUN_SOURCES)[number];
export type RunStatus = "queued" | "running" | "succeeded" | "failed" | "skipped" | "superseded";
export type StepStatus = "queued" | "running" | "succeeded" | "failed" | "skipped";

export const RUN_ENDED: ReadonlySet<RunStatus> = new Set(["succeeded", "failed", "skipped", "superseded"]);
export const STEP_ENDED: ReadonlySet<StepStatus> = new Set(["succeeded", "failed", "skipped"]);

/** What the App needs to reach a repository; the CLI and triggers know only its name at first. */
export interface RunRepoRef {
  installationId: number;
  owner: string;
  name: string;
  fullName: string;
  cloneUrl: string;
  defaultBranch: string;
}

/** Narrowing a trigger adds to every deploy step of its run (all optional, combined with AND). */
export interface RunFilters {
  stacks?: (string | Record<string, string>)[];
  hosts?: (string | Record<string, string>)[];
  /** Changed-file globs: without a match in the range the run deploys nothing. */
  paths?: string[];
}

export interface NewRun {
  repo: string;
  repoRef?: RunRepoRef | null;
  /** null: the repository's default branch. */
  branch?: string | null;
  /** null: "deploy what changed" (a trigger without a procedure). */
  procedure: string | null;
  source: RunSource;
  triggerName?: string | null;
  actor: string;
  /** The range that triggered it (a push); without a base, nothing is known to be modified. */
  base?: string | null;
  /** null: the branch's head when the run starts. */
  head?: string | null;
  filters?: RunFilters;
}

export interface Run extends Required<Omit<NewRun, "filters">> {
  id: number;
  filters: RunFilters;
  coalesceKey: string;
  definition: unknown;
  policyCommit: string | null;
  status: RunStatus;
  reason: string | null;
  error: string | null;
  checkRunId: number | null;
  createdAt: Date;
  startedAt: Date | null;
  finishedAt: Date | null;
}

export interface StepRecord {
  runId: number;
  path: string;
  kind: string;
  name: string;
  status: StepStatus;
  reason: string | null;
  error: string | null;
  detail: Record<string, unknown>;
  attempts: number;
  startedAt: Date | null;
  finishedAt: Date | null;
}

/** A redelivery: by its delivery id (remembered), or by its body's digest within `windowMs`. */
export interface Dedupe {
  trigger: string;
  key: string;
  windowMs?: number;
}

/** Runs of one repository, branch and procedure are coalesced. */
export const coalesceKeyOf = (r: Pick<NewRun, "repo" | "branch" | "procedure">): string =>
  JSON.stringify([r.repo, r.branch ?? "", r.procedure ?? ""]);

/**
 * Creates a run; with `dedupe`, only the first delivery of a key does (within its window): the
 * others get `duplicateOf`, the run the first one made.
 */
export async function createRun(
  db: Db,
  input: NewRun,
  dedupe?: Dedupe,
): Promise<{ id: number; duplicate: boolean }> {
  return db.transaction(async (tx) => {
    if (dedupe) {
      const won = await tx.query(
        `INSERT INTO trigger_deliveries (trigger, key) VALUES ($1, $2)
         ON CONFLICT (trigger, key) DO UPDATE SET received_at = now(), run_id = NULL
           WHERE $3::bigint IS NOT NULL AND trigger_deliveries.received_at < now() - $3 * interval '1 millisecond'
         RETURNING key`,
        [dedupe.trigger, dedupe.key, dedupe.windowMs ?? null],
      );
      if (won.length === 0) {
        const [row] = await tx.query(
          "SELECT run_id FROM trigger_deliveries WHERE trigger = $1 AND key = $2",
          [dedupe.trigger, dedupe.key],
        );
        if (row?.run_id != null) return { id: toNumber(row.run_id), duplicate: true };
      }
    }
    const [row] = await tx.query(
      `INSERT INTO procedure_runs (repo, repo_ref, branch, procedure, coalesce_key, source, trigger_name, actor,
                                   base_sha, head_sha, filters)
       VALUES ($1, $2::text::jsonb, $3, $4, $5, $6, $7, $8, $9, $10, $11::text::jsonb) RETURNING id`,
      [
        input.repo,
        input.repoRef ? JSON.stringify(input.repoRef) : null,
        input.branch ?? null,
        input.procedure,
        coalesceKeyOf(input),
        input.source,
        input.triggerName ?? null,
        input.actor,
        input.base ?? null,
        input.head ?? null,
        JSON.stringify(input.filters ?? {}),
      ],
    );
    const id = toNumber(row?.id);
    if (dedupe)
      await tx.query("UPDATE trigger_deliveries SET run_id = $3 WHERE trigger = $1 AND key = $2", [
        dedupe.trigger,
        dedupe.key,
        id,
      ]);
    return { id, duplicate: false };
  });
}

/** Undo a run that could not be queued (its dedupe record goes with it, so a redelivery works). */
export async function deleteRun(db: Queryable, id: number): Promise<void> {
  await db.query("DELETE FROM procedure_runs WHERE id = $1", [id]);
}

/** queued (or running: a resumed run) -> running, with what the run starts from. False when it ended. */
export async function startRun(
  db: Queryable,
  id: number,
  at: { repoRef: RunRepoRef; branch: string; head: string; definition: unknown; policyCommit: string | null },
): Promise<boolean> {
  const rows = await db.query(
    `UPDATE procedure_runs SET status = 'running', started_at = COALESCE(started_at, now()),
            repo_ref = $2::text::jsonb, branch = $3, head_sha = $4,
            definition = COALESCE(definition, $5::text::jsonb), policy_commit = COALESCE(policy_commit, $6)
      WHERE id = $1 AND status IN ('queued', 'running') RETURNING id`,
    [id, JSON.stringify(at.repoRef), at.branch, at.head, JSON.stringify(at.definition), at.policyCommit],
  );
  return rows.length === 1;
}

export async function finishRun(
  db: Queryable,
  id: number,
  end: { status: Exclude<RunStatus, "queued" | "running">; reason?: string | null; error?: string | null },
): Promise<boolean> {
  const rows = await db.query(
    `UPDATE procedure_runs SET status = $2, reason = $3, error = $4, finished_at = now()
      WHERE id = $1 AND status IN ('queued', 'running') RETURNING id`,
    [id, end.status, end.reason ?? null, end.error ?? null],
  );
  return rows.length === 1;
}

/**
 * Marks the run superseded when a newer run of its coalescing key is waiting or going: the newest
 * commit wins, as with deploys. True when it was.
 */
export async function supersedeRunIfStale(db: Queryable, id: number): Promise<boolean> {
  const rows = await db.query(
    `UPDATE procedure_runs r SET status = 'superseded', finished_at = now(),
            reason = 'a newer run of this procedure was triggered: it runs instead'
      WHERE r.id = $1 AND r.status IN ('queued', 'running')
        AND EXISTS (SELECT 1 FROM procedure_runs n
                     WHERE n.coalesce_key = r.coalesce_key AND n.id > r.id AND n.status IN ('queued', 'running'))
      RETURNING id`,
    [id],
  );
  return rows.length === 1;
}

export async function setRunCheckRun(db: Queryable, id: number, checkRunId: number): Promise<void> {
  await db.query("UPDATE procedure_runs SET check_run_id = $2 WHERE id = $1", [id, checkRunId]);
}

export async function getRun(db: Queryable, id: number): Promise<Run | undefined> {
  const [row] = await db.query("SELECT * FROM procedure_runs WHERE id = $1", [id]);
  return row ? toRun(row) : undefined;
}

export async function listRuns(db: Queryable, filter: { repo?: string; limit?: number }): Promise<Run[]> {
  const rows = await db.query(
    "SELECT * FROM procedure_runs WHERE ($1::text IS NULL OR repo = $1) ORDER BY id DESC LIMIT $2",
    [filter.repo ?? null, filter.limit ?? 20],
  );
  return rows.map(toRun);
}

export async function listSteps(db: Queryable, runId: number): Promise<StepRecord[]> {
  const rows = await db.query("SELECT * FROM procedure_steps WHERE run_id = $1 ORDER BY path", [runId]);
  return rows.map(toStep);
}

export interface StepUpdate {
  kind: string;
  name: string;
  status: StepStatus;
  reason?: string | null;
  error?: string | null;
  /** Merged into the stored detail (so a resumed step adds to what it recorded before). */
  detail?: Record<string, unknown>;
}

/**
 * Records a step's state. A step that ended stays as it ended (false then): a second worker
 * finishing the same step cannot overwrite the first's result.
 */
export async function setStep(db: Queryable, runId: number, path: string, u: StepUpdate): Promise<boolean> {
  const rows = await db.query(
    `INSERT INTO procedure_steps (run_id, path, kind, name, status, reason, error, detail, attempts, started_at, finished_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8::text::jsonb, CASE WHEN $5 = 'running' THEN 1 ELSE 0 END,
             CASE WHEN $5 = 'queued' THEN NULL ELSE now() END,
             CASE WHEN $5 IN ('succeeded', 'failed', 'skipped') THEN now() END)
     ON CONFLICT (run_id, path) DO UPDATE SET
       status = excluded.status,
       reason = COALESCE(excluded.reason, procedure_steps.reason),
       error = excluded.error,
       detail = procedure_steps.detail || excluded.detail,
       attempts = procedure_steps.attempts + CASE WHEN excluded.status = 'running' THEN 1 ELSE 0 END,
       started_at = COALESCE(procedure_steps.started_at, excluded.started_at),
       finished_at = excluded.finished_at
     WHERE procedure_steps.status NOT IN ('succeeded', 'failed', 'skipped')
     RETURNING path`,
    [
      runId,
      path,
      u.kind,
      u.name,
      u.status,
      u.reason ?? null,
      u.error ?? null,
      JSON.stringify(u.detail ?? {}),
    ],
  );
  return rows.length === 1;
}

/** Adds to a step's detail without changing its state (e.g. a rollout's id as soon as it exists). */
export async function addStepDetail(
  db: Queryable,
  runId: number,
  path: string,
  detail: Record<string, unknown>,
): Promise<void> {
  await db.query(
    "UPDATE procedure_steps SET detail = detail || $3::text::jsonb WHERE run_id = $1 AND path = $2",
    [runId, path, JSON.stringify(detail)],
  );
}

/** Forgets trigger deliveries older than maxAgeMs. */
export async function pruneTriggerDeliveries(db: Queryable, maxAgeMs: number): Promise<number> {
  const rows = await db.query(
    "DELETE FROM trigger_deliveries WHERE received_at < now() - $1 * interval '1 millisecond' RETURNING key",
    [maxAgeMs],
  );
  return rows.length;
}

function toRun(row: Row): Run {
  return {
    id: toNumber(row.id),
    repo: String(row.repo),
    repoRef: (row.repo_ref ?? null) as RunRepoRef | null,
    branch: toStringOrNull(row.branch),
    procedure: toStringOrNull(row.procedure),
    coalesceKey: String(row.coalesce_key),
    source: row.source as RunSource,
    triggerName: toStringOrNull(row.trigger_name),
    actor: String(row.actor),
    base: toStringOrNull(row.base_sha),
    head: toStringOrNull(row.head_sha),
    filters: (row.filters ?? {}) as RunFilters,
    definition: row.definition ?? null,
    policyCommit: toStringOrNull(row.policy_commit),
    status: row.status as RunStatus,
    reason: toStringOrNull(row.reason),
    error: toStringOrNull(row.error),
    checkRunId: row.check_run_id == null ? null : toNumber(row.check_run_id),
    createdAt: toDate(row.created_at),
    startedAt: toDateOrNull(row.started_at),
    finishedAt: toDateOrNull(row.finished_at),
  };
}

function toStep(row: Row): StepRecord {
  return {
    runId: toNumber(row.run_id),
    path: String(row.path),
    kind: String(row.kind),
    name: String(row.name),
    status: row.status as StepStatus,
    reason: toStringOrNull(row.reason),
    error: toStringOrNull(row.error),
    detail: (row.detail ?? {}) as Record<string, unknown>,
    attempts: toNumber(row.attempts),
    startedAt: toDateOrNull(row.started_at),
    finishedAt: toDateOrNull(row.finished_at),
  };
}
