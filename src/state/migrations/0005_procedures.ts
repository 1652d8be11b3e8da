import type { Migration } from "./index.ts";

// Applied migrations are history: never edit this text, add a new migration instead.
export const procedures: Migration = {
  version: 5,
  name: "procedures",
  sql: `
-- One run of a procedure (or of "deploy what changed" for a trigger without one). The procedure's
-- definition is kept with the run when it starts, so a run resumed after a restart runs the steps
-- it started with, whatever the default branch says by then.
CREATE TABLE procedure_runs (
  id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  repo          text NOT NULL,
  -- The repository as the App reaches it (installation, clone URL, default branch) once known.
  repo_ref      jsonb,
  branch        text,
  procedure     text,
  -- Runs with one key are coalesced: one at a time, and of those waiting only the newest runs.
  coalesce_key  text NOT NULL,
  source        text NOT NULL CHECK (source IN ('trigger', 'push', 'schedule', 'cli', 'command')),
  trigger_name  text,
  actor         text NOT NULL,
  base_sha      text,
  head_sha      text,
  filters       jsonb NOT NULL DEFAULT '{}',
  definition    jsonb,
  policy_commit text,
  status        text NOT NULL DEFAULT 'queued'
                CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'skipped', 'superseded')),
  reason        text,
  error         text,
  check_run_id  bigint,
  created_at    timestamptz NOT NULL DEFAULT now(),
  started_at    timestamptz,
  finished_at   timestamptz
);
CREATE INDEX procedure_runs_coalesce_idx ON procedure_runs (coalesce_key, id DESC);
CREATE INDEX procedure_runs_repo_idx ON procedure_runs (repo, id DESC);

-- A stage or step of a run, by its path ("1" the second stage, "1.0" its first step, "1.0/0.2" a
-- step of the procedure that step runs). A step that ended is never run again.
CREATE TABLE procedure_steps (
  run_id      bigint NOT NULL REFERENCES procedure_runs (id) ON DELETE CASCADE,
  path        text NOT NULL,
  kind        text NOT NULL,
  name        text NOT NULL,
  status      text NOT NULL DEFAULT 'queued'
              CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'skipped')),
  reason      text,
  error       text,
  detail      jsonb NOT NULL DEFAULT '{}',
  attempts    integer NOT NULL DEFAULT 0,
  started_at  timestamptz,
  finished_at timestamptz,
  PRIMARY KEY (run_id, path)
);

-- Trigger deliveries already turned into runs: by delivery id (kept), or by a digest of the body
-- (within a window): a redelivery answers with the run it made instead of making another.
CREATE TABLE trigger_deliveries (
  trigger     text NOT NULL,
  key         text NOT NULL,
  run_id      bigint REFERENCES procedure_runs (id) ON DELETE CASCADE,
  received_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (trigger, key)
);
CREATE INDEX trigger_deliveries_received_idx ON trigger_deliveries (received_at);

-- A stack stopped on purpose on a host: no plan starts it (stackpilot start undoes it).
CREATE TABLE stopped_stacks (
  repo       text NOT NULL,
  stack      text NOT NULL,
  host       text NOT NULL,
  actor      text NOT NULL,
  stopped_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (repo, stack, host)
);

-- Procedures with a schedule, as the default branch last said; each slot fires once (first insert).
CREATE TABLE procedure_schedules (
  repo       text NOT NULL,
  procedure  text NOT NULL,
  cron       text NOT NULL,
  timezone   text,
  repo_ref   jsonb NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (repo, procedure)
);
CREATE TABLE procedure_schedule_fires (
  repo      text NOT NULL,
  procedure text NOT NULL,
  slot      timestamptz NOT NULL,
  run_id    bigint,
  fired_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (repo, procedure, slot)
);
`,
};
