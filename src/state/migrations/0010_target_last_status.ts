import type { Migration } from "./index.ts";

// Applied migrations are history: never edit this text, add a new migration instead.
export const targetLastStatus: Migration = {
  version: 10,
  name: "target_last_status",
  sql: `
-- The newest deployment's status and environment beside its id in target_last: the web UI's matrix
-- (overview.ts) then reads no deployments row at all (on PGlite the join was a quarter of its
-- query, bench/ui.bench.ts). createDeployment writes them with the id; a trigger copies every later
-- change of that deployment's status or environment, in the statement (and so the transaction)
-- that makes it, whichever code makes it.
ALTER TABLE target_last ADD COLUMN status text, ADD COLUMN environment text;
UPDATE target_last n SET status = x.status, environment = x.environment
  FROM deployments x WHERE x.id = n.deployment_id;
ALTER TABLE target_last ALTER COLUMN status SET NOT NULL;

CREATE FUNCTION target_last_follow() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  UPDATE target_last SET status = NEW.status, environment = NEW.environment
   WHERE repo = NEW.repo AND stack = NEW.stack AND host = NEW.host AND deployment_id = NEW.id;
  RETURN NULL;
END
$fn$;
CREATE TRIGGER target_last_follow AFTER UPDATE OF status, environment ON deployments
  FOR EACH ROW
  WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.environment IS DISTINCT FROM NEW.environment)
  EXECUTE FUNCTION target_last_follow();
`,
};
