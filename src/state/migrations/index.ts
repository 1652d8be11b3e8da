/** Schema migrations in the order they apply; `migrate()` runs the ones a database lacks. */
import { initial } from "./0001_initial.ts";
import { builds } from "./0002_builds.ts";
import { rollouts } from "./0003_rollouts.ts";
import { driftNotify } from "./0004_drift_notify.ts";
import { procedures } from "./0005_procedures.ts";
import { sources } from "./0006_sources.ts";
import { hookRuns } from "./0007_hook_runs.ts";
import { ui } from "./0008_ui.ts";
import { targetLast } from "./0009_target_last.ts";
import { targetLastStatus } from "./0010_target_last_status.ts";

export interface Migration {
  /** Applied in ascending order; recorded in stackpilot_migrations once applied. */
  version: number;
  name: string;
  sql: string;
}

export const MIGRATIONS: readonly Migration[] = [
  initial,
  builds,
  rollouts,
  driftNotify,
  procedures,
  sources,
  hookRuns,
  ui,
  targetLast,
  targetLastStatus,
];
