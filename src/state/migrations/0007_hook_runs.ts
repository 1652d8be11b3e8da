import type { Migration } from "./index.ts";

// Applied migrations are history: never edit this text, add a new migration instead.
export const hookRuns: Migration = {
  version: 7,
  name: "hook_runs",
  sql: `
-- One attempt of one hook of a deployment (src/deploy/hookSteps.ts). Inserted 'running' before
-- the hook starts, so that an attempt cut off by a crash still counts: a deploy retried after a
-- crash numbers its attempts on from there (STACKPILOT_HOOK_ATTEMPT). Counts and durations by hook
-- and result are read from here (stackpilot status).
CREATE TABLE hook_runs (
  id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  deployment_id bigint NOT NULL REFERENCES deployments (id) ON DELETE CASCADE,
  hook          text NOT NULL CHECK (hook IN ('post_sync', 'pre_deploy', 'post_deploy', 'on_failure')),
  attempt       integer NOT NULL,
  required      boolean NOT NULL,
  status        text NOT NULL DEFAULT 'running'
                CHECK (status IN ('running', 'succeeded', 'failed', 'timed_out')),
  exit_code     integer,
  duration_ms   integer,
  -- Bounded (8 KiB, head and tail) and redacted when recorded; the command log keeps more.
  output        text NOT NULL DEFAULT '',
  started_at    timestamptz NOT NULL DEFAULT now(),
  finished_at   timestamptz
);
CREATE INDEX hook_runs_deployment_idx ON hook_runs (deployment_id, id);
`,
};
