import type { Migration } from "./index.ts";

// Applied migrations are history: never edit this text, add a new migration instead.
export const rollouts: Migration = {
  version: 3,
  name: "rollouts",
  sql: `
-- A deployment whose deployer stopped mid-deploy (crash, kill, lost database) is 'interrupted',
-- not 'failed': it never got to fail or succeed.
ALTER TABLE deployments DROP CONSTRAINT deployments_status_check;
ALTER TABLE deployments ADD CONSTRAINT deployments_status_check
  CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'superseded', 'rolled_back', 'interrupted'));

-- One App rollout: an environment's share of a plan, with the GitHub Deployment and check run
-- that show it. A rollout whose process died is found by its lease (the lock 'rollout:<id>'
-- lapses), marked interrupted, and its GitHub objects are finished by whoever finds it.
CREATE TABLE rollouts (
  id                   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  repo                 text NOT NULL,
  installation_id      bigint NOT NULL,
  environment          text NOT NULL,
  commit_sha           text NOT NULL,
  trigger              text NOT NULL,
  actor                text NOT NULL,
  github_deployment_id bigint,
  check_run_id         bigint,
  status               text NOT NULL DEFAULT 'running'
                       CHECK (status IN ('running', 'succeeded', 'failed', 'interrupted')),
  error                text,
  -- The GitHub Deployment status and check run show the final status.
  reported             boolean NOT NULL DEFAULT false,
  created_at           timestamptz NOT NULL DEFAULT now(),
  finished_at          timestamptz
);
CREATE INDEX rollouts_open_idx ON rollouts (id) WHERE status = 'running' OR NOT reported;

ALTER TABLE deployments ADD COLUMN rollout_id bigint REFERENCES rollouts (id) ON DELETE SET NULL;
`,
};
