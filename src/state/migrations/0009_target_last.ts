import type { Migration } from "./index.ts";

// Applied migrations are history: never edit this text, add a new migration instead.
export const targetLast: Migration = {
  version: 9,
  name: "target_last",
  sql: `
-- The newest deployment of each (repo, stack, host). The web UI's matrix (overview.ts) reads a
-- target's last deployment through it instead of sorting the repository's whole history. Written
-- by the statement that inserts the deployment (deployments.ts createDeployment), so the two never
-- disagree; filled here from the deployments recorded so far.
CREATE TABLE target_last (
  repo          text NOT NULL,
  stack         text NOT NULL,
  host          text NOT NULL,
  deployment_id bigint NOT NULL REFERENCES deployments (id),
  PRIMARY KEY (repo, stack, host)
);
INSERT INTO target_last (repo, stack, host, deployment_id)
  SELECT DISTINCT ON (repo, stack, host) repo, stack, host, id FROM deployments
   ORDER BY repo, stack, host, id DESC;
`,
};
