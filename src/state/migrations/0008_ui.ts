import type { Migration } from "./index.ts";

// Applied migrations are history: never edit this text, add a new migration instead.
export const ui: Migration = {
  version: 8,
  name: "ui",
  sql: `
-- What a deployment's page shows besides its commands: the environment it deployed to, the plan's
-- reasons for it and the commit's subject line (all written once, when the deployment is created).
ALTER TABLE deployments ADD COLUMN environment text;
ALTER TABLE deployments ADD COLUMN reasons jsonb;
ALTER TABLE deployments ADD COLUMN commit_subject text;

-- Web UI sessions. The cookie holds a random id; only its SHA-256 is stored, so the table never
-- holds anything that signs a browser in. A GitHub user's token is never stored (memory only):
-- what is kept is what GitHub said the user may read, and when it said so.
CREATE TABLE ui_sessions (
  id_hash          text PRIMARY KEY,
  kind             text NOT NULL CHECK (kind IN ('github', 'token')),
  login            text NOT NULL,
  repos            jsonb,
  repos_checked_at timestamptz,
  created_at       timestamptz NOT NULL DEFAULT now(),
  expires_at       timestamptz NOT NULL
);
CREATE INDEX ui_sessions_expires_idx ON ui_sessions (expires_at);
`,
};
