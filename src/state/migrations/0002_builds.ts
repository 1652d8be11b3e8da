import type { Migration } from "./index.ts";

// Applied migrations are history: never edit this text, add a new migration instead.
export const builds: Migration = {
  version: 2,
  name: "builds",
  sql: `
-- One row per image build attempt on a builder. A succeeded row is what lets a later deploy with
-- the same build inputs (fingerprint) reuse the pushed image instead of building again.
CREATE TABLE builds (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  repo        text NOT NULL,
  stack       text NOT NULL,
  service     text NOT NULL,
  -- Registry name, or 'local:<builder>' for an image kept on the builder that runs it.
  registry    text NOT NULL,
  builder     text NOT NULL,
  fingerprint text NOT NULL,
  image       text NOT NULL,
  commit_sha  text NOT NULL,
  actor       text NOT NULL,
  status      text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'succeeded', 'failed')),
  error       text,
  -- The commands and their output, bounded and redacted like deployment logs.
  log         text NOT NULL DEFAULT '',
  started_at  timestamptz NOT NULL DEFAULT now(),
  finished_at timestamptz
);
CREATE INDEX builds_reuse_idx ON builds (repo, stack, service, registry, fingerprint, id DESC)
  WHERE status = 'succeeded';
`,
};
