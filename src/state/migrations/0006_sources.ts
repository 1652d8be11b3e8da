import type { Migration } from "./index.ts";

// Applied migrations are history: never edit this text, add a new migration instead.
export const sources: Migration = {
  version: 6,
  name: "sources",
  sql: `
-- Who uses which source (sources: in .github/stackpilot.yml), as the last plan of each using
-- repository's default branch read them: a push to a source repository finds the repositories to
-- plan here, without a scan of every repository. commit_sha is the source commit that plan read:
-- the base of the next plan's source changes.
CREATE TABLE source_uses (
  repo            text NOT NULL,
  name            text NOT NULL,
  -- owner/name of the source repository, lowercase (GitHub's names are case-insensitive).
  source_repo     text NOT NULL,
  -- The ref as configured; null: the source's default branch.
  ref             text,
  commit_sha      text NOT NULL,
  -- Enough to plan the using repository from another repository's push.
  installation_id bigint NOT NULL,
  clone_url       text NOT NULL,
  default_branch  text NOT NULL,
  updated_at      timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (repo, name)
);
CREATE INDEX source_uses_source_idx ON source_uses (source_repo);

-- The source commits a deployment's release was made from.
CREATE TABLE deployment_sources (
  deployment_id bigint NOT NULL REFERENCES deployments (id) ON DELETE CASCADE,
  name          text NOT NULL,
  repository    text NOT NULL,
  commit_sha    text NOT NULL,
  PRIMARY KEY (deployment_id, name)
);
`,
};
