import type { Migration } from "./index.ts";

// Applied migrations are history: never edit this text, add a new migration instead.
export const driftNotify: Migration = {
  version: 4,
  name: "drift_notify",
  sql: `
-- What a deploy left running, per service (config hash, image id, container count), read from its
-- final health poll: drift detection compares what runs later against it.
ALTER TABLE deployed ADD COLUMN expected jsonb;

-- A heal redeploys the recorded release of a target that drifted.
ALTER TABLE deployments DROP CONSTRAINT deployments_trigger_check;
ALTER TABLE deployments ADD CONSTRAINT deployments_trigger_check
  CHECK (trigger IN ('cli', 'merge', 'command', 'rollback', 'retry', 'heal'));
CREATE INDEX deployments_heal_idx ON deployments (repo, stack, host, id DESC) WHERE trigger = 'heal';

-- The last drift check of each (repo, stack, host): status pages read it without asking hosts.
CREATE TABLE drift_checks (
  repo        text NOT NULL,
  stack       text NOT NULL,
  host        text NOT NULL,
  state       text NOT NULL CHECK (state IN ('in_sync', 'drifted', 'unreachable')),
  -- The differences in words (drifted) or why the host could not be read (unreachable).
  details     jsonb NOT NULL DEFAULT '[]',
  commit_sha  text NOT NULL,
  checked_at  timestamptz NOT NULL,
  -- Since when the target has been in this state.
  since       timestamptz NOT NULL,
  -- What healing did last: healing, healed, failed, superseded, given_up (until heal_until), refused,
  -- not_healable.
  heal        text,
  heal_detail text,
  heal_until  timestamptz,
  PRIMARY KEY (repo, stack, host)
);

-- Notification episodes, per channel: a failure of one target is sent once, then only as a
-- reminder, until it ends. Kept here so replicas and restarts agree.
CREATE TABLE notify_episodes (
  channel      text NOT NULL,
  topic        text NOT NULL,
  repo         text NOT NULL,
  stack        text NOT NULL,
  host         text NOT NULL,
  open         boolean NOT NULL DEFAULT false,
  opened_at    timestamptz,
  last_sent_at timestamptz,
  PRIMARY KEY (channel, topic, repo, stack, host)
);
`,
};
