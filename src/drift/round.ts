/**
 * One drift round, run by one replica at a time (the database lock `drift`):
 * 1. per repository, the targets due (due.ts) under its default branch's rules,
 * 2. every due target against its host, one command per host for all of them (deploy/liveState.ts),
 * 3. each result recorded (state/drift.ts) and told (notify/: drift found, back in sync),
 * 4. drifted targets whose rules say `heal: true` healed within their limits (healing.ts),
 * 5. the healed targets checked again, so their state says whether the heal worked.
 * Only step 4 changes anything on a host; an in-sync round sends one read-only command per host.
 */
import type { HostConfig } from "../config/hostsFile.ts";
import { checkLive, type LiveVerdict } from "../deploy/liveState.ts";
import type { Runner } from "../deploy/runner.ts";
import type { Notifier } from "../notify/notifier.ts";
import type { Policy } from "../policy/policy.ts";
import type { DriftState } from "../state/drift.ts";
import type { Store } from "../state/store.ts";
import { type DueTarget, dueTargets } from "./due.ts";
import { type Healer, healDrifted } from "./healing.ts";

export interface DriftLog {
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
}

/** A repository to check and the rules of its default branch. */
export interface DriftRepo {
  repo: string;
  policy: Policy;
}

/** One target's result, for metrics and tests. */
export interface CheckedTarget {
  repo: string;
  stack: string;
  host: string;
  commit: string;
  verdict: LiveVerdict;
}

export interface DriftDeps {
  store: Store;
  hosts: readonly HostConfig[];
  /** Runs the read-only probe on hosts. */
  runner: Runner;
  /** The repositories with drift settings to check; one that cannot be read now is left out (and logged). */
  repos(): Promise<DriftRepo[]>;
  heal: Healer;
  notifier: Pick<Notifier, "emit">;
  log: DriftLog;
  /** Who runs the round, for its database lock. */
  holder: string;
  /** Called with every target checked (metrics: drift per stack and host, hosts up). */
  onCheck?(checked: CheckedTarget): void;
  /** Backoff after a failed heal (heal.ts); default HEAL_BACKOFF_MS. */
  healBackoffMs?: number;
}

export interface DriftRoundResult {
  checked: CheckedTarget[];
  /** Targets a heal was run for. */
  healed: { repo: string; stack: string; host: string }[];
}

const ROUND_LOCK = "drift";
const ROUND_LOCK_TTL_MS = 60_000;

/**
 * One round; undefined when another replica runs one right now. `all`: every target with drift
 * settings is checked now, due or not.
 */
export async function driftRound(
  deps: DriftDeps,
  opts: { all?: boolean } = {},
): Promise<DriftRoundResult | undefined> {
  const { store } = deps;
  if (!(await store.acquireLock(ROUND_LOCK, deps.holder, ROUND_LOCK_TTL_MS))) return undefined;
  // Heartbeated while it runs: heals may take minutes.
  return store.holdLock(ROUND_LOCK, deps.holder, ROUND_LOCK_TTL_MS, async () => {
    await store.pruneDriftChecks();
    const now = new Date();
    const due: DueTarget[] = [];
    for (const { repo, policy } of await deps.repos()) {
      const [records, checks, stopped] = await Promise.all([
        store.getDeployed(repo),
        store.listDriftChecks(repo),
        store.listStopped(repo),
      ]);
      const stoppedKeys = new Set(stopped.map((t) => `${t.stack}\0${t.host}`));
      due.push(...dueTargets(repo, policy, records, checks, now, opts.all, stoppedKeys));
    }
    if (due.length === 0) return { checked: [], healed: [] };
    const checked = await checkAndRecord(deps, due);
    const drifted = due.filter((_, i) => checked[i]?.verdict.state === "drifted");
    const healed = await healDrifted(deps, drifted, checked);
    if (healed.length === 0) return { checked, healed: [] };
    // The records changed with the heals: read them again, and check those targets again.
    const again: DueTarget[] = [];
    for (const t of healed) {
      const record = (await store.getDeployed(t.repo)).find(
        (d) => d.stack === t.record.stack && d.host === t.record.host,
      );
      if (record) again.push({ ...t, record });
    }
    return {
      checked: [...checked, ...(await checkAndRecord(deps, again))],
      healed: healed.map((t) => ({ repo: t.repo, stack: t.record.stack, host: t.record.host })),
    };
  });
}

/** Steps 2 and 3: the hosts read (one command each), every verdict recorded and told. */
async function checkAndRecord(deps: DriftDeps, due: readonly DueTarget[]): Promise<CheckedTarget[]> {
  const verdicts = await checkLive(
    deps.runner,
    deps.hosts,
    due.map((t) => t.record),
  );
  const out: CheckedTarget[] = [];
  for (const [i, t] of due.entries()) {
    const verdict = verdicts[i] as LiveVerdict;
    const target = { repo: t.repo, stack: t.record.stack, host: t.record.host };
    const checked = { ...target, commit: t.record.commit, verdict };
    const { previous } = await deps.store.recordDriftCheck({
      ...target,
      commit: t.record.commit,
      state: verdict.state,
      details: detailsOf(verdict),
    });
    tell(deps, checked, previous);
    deps.onCheck?.(checked);
    out.push(checked);
  }
  return out;
}

/** Drift is told every time (the notifier keeps it to one alert per episode); a return to sync once. */
function tell(deps: DriftDeps, c: CheckedTarget, previous: DriftState | undefined): void {
  const where = `${c.stack} on ${c.host} (${c.repo})`;
  switch (c.verdict.state) {
    case "drifted":
      if (previous !== "drifted") deps.log.warn(`${where} drifted: ${c.verdict.differences.join("; ")}`);
      deps.notifier.emit({ type: "drift", ...c, differences: c.verdict.differences });
      return;
    case "in_sync":
      if (previous !== "in_sync") {
        if (previous) deps.log.info(`${where} is in sync again`);
        deps.notifier.emit({ type: "in_sync", ...c });
      }
      return;
    case "unreachable":
      if (previous !== "unreachable") deps.log.warn(`${where} could not be checked: ${c.verdict.error}`);
      return;
  }
}

function detailsOf(v: LiveVerdict): string[] {
  if (v.state === "drifted") return v.differences;
  if (v.state === "unreachable") return [v.error];
  return v.notes ?? [];
}
