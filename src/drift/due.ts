/**
 * Which targets a drift round checks: each (stack, host) with a record whose default-branch rules
 * set `drift`, when it was never checked at its recorded commit or its last check is `every` old.
 * Pure.
 */
import type { DriftSettings } from "../config/repoConfigSchema.ts";
import { driftSettingsOf } from "../policy/drift.ts";
import type { Policy } from "../policy/policy.ts";
import type { DeployedState } from "../state/deployed.ts";
import type { DriftCheck } from "../state/drift.ts";

/** A target to check, with the rules it is checked and healed by. */
export interface DueTarget {
  repo: string;
  record: DeployedState;
  settings: DriftSettings;
  last: DriftCheck | undefined;
}

/** Rounds run every ROUND_MS; a check due a little after a round waits for the next one. */
export const ROUND_MS = 30_000;
/** Round start times wobble: a check due within this much is done now rather than a round later. */
const SLACK_MS = 2_000;

export function dueTargets(
  repo: string,
  policy: Policy,
  records: readonly DeployedState[],
  checks: readonly DriftCheck[],
  now: Date,
  /** Every target with drift settings, due or not (a check asked for now). */
  all = false,
  /** `stack\0host` of targets stopped on purpose: not running is what they should do. */
  stopped: ReadonlySet<string> = new Set(),
): DueTarget[] {
  const last = new Map(checks.map((c) => [`${c.stack}\0${c.host}`, c]));
  const out: DueTarget[] = [];
  for (const record of records) {
    const settings = driftSettingsOf(policy, record.stack);
    if (!settings || stopped.has(`${record.stack}\0${record.host}`)) continue;
    const check = last.get(`${record.stack}\0${record.host}`);
    const due =
      all ||
      !check ||
      check.commit !== record.commit ||
      now.getTime() - check.checkedAt.getTime() >= settings.every - SLACK_MS;
    if (due) out.push({ repo, record, settings, last: check });
  }
  return out;
}
