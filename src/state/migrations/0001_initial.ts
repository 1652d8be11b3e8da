import type { Migration } from "./index.ts";

// Applied migrations are history: never edit this text, add a new migration instead.
export const initial: Migration = {
  version: 1,
  name: "initial",
  sql: `
CREATE TABLE deployments (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  repo        text NOT NULL,
  stack       text NOT NULL,
  host        text NOT NULL,
  commit_sha  text NOT NULL,
  fingerprint text NOT NULL,
  actor       text NOT NULL,
  trigger     text NOT NULL CHECK (trigger IN ('cli', 'merge', 'command', 'rollback', 'retry')),
  status      text NOT NULL DEFAULT 'queued'
              CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'superseded', 'rolled_back')),
  error       text,
  created_at  timestamptz NOT NULL DEFAULT now(),
  started_at  timestamptz,
  finished_at timestamptz,
  timings     jsonb,
  release_id  text,
  -- A retry points at the deployment it retries (always the original, never another retry).
  retry_of    bigint REFERENCES deployments (id),
  -- Running totals for deployment_logs, kept here so appends need no aggregate.
  log_bytes   bigint NOT NULL DEFAULT 0,
  log_count   integer NOT NULL DEFAULT 0
);
CREATE INDEX deployments_target_idx ON deployments (repo, stack, host, id DESC);
CREATE INDEX deployments_retry_of_idx ON deployments (retry_of) WHERE retry_of IS NOT NULL;
CREATE INDEX deployments_running_idx ON deployments (status) WHERE status IN ('queued', 'running');

CREATE TABLE deployment_logs (
  deployment_id bigint NOT NULL REFERENCES deployments (id) ON DELETE CASCADE,
  seq           integer NOT NULL,
  command       text NOT NULL,
  exit_code     integer,
  output        text NOT NULL,
  created_at    timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (deployment_id, seq)
);

CREATE TABLE deployed (
  repo          text NOT NULL,
  stack         text NOT NULL,
  host          text NOT NULL,
  fingerprint   text NOT NULL,
  commit_sha    text NOT NULL,
  release_id    text,
  deployment_id bigint REFERENCES deployments (id) ON DELETE SET NULL,
  deployed_at   timestamptz NOT NULL DEFAULT now(),
  pinned        boolean NOT NULL DEFAULT false,
  PRIMARY KEY (repo, stack, host)
);

CREATE TABLE locks (
  key          text PRIMARY KEY,
  holder       text NOT NULL,
  acquired_at  timestamptz NOT NULL,
  heartbeat_at timestamptz NOT NULL,
  expires_at   timestamptz NOT NULL,
  details      jsonb NOT NULL DEFAULT '{}'
);

CREATE TABLE webhook_deliveries (
  delivery_id text PRIMARY KEY,
  event       text NOT NULL,
  received_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhook_deliveries_received_idx ON webhook_deliveries (received_at);
`,
};
