/**
 * Step 4 of a drift round: drifted targets whose rules say `heal: true` get their RECORDED release
 * deployed again (the commit in the record, never the newest one), through the normal path (the
 * Healer: a plan of that commit, forced for those targets, run by runPlan). Never healed: a target
 * pinned by a rollback, and one where only what a redeploy cannot repair differs (a target stopped
 * on purpose is not even checked: due.ts). Within the limits of heal.ts; giving up is loud (an error log line, a notification, the
 * state `given_up` until the window allows another heal).
 */
import type { HealOutcome } from "../state/drift.ts";
import { Limiter } from "../util/limiter.ts";
import type { DueTarget } from "./due.ts";
import { HEAL_BACKOFF_MS, healDecision, healRefusal } from "./heal.ts";
import type { HealExpectation } from "./healLedger.ts";
import type { CheckedTarget, DriftDeps } from "./round.ts";

/** Targets of one stack at one recorded commit of one repository: one plan, one runPlan. */
export interface HealRequest {
  repo: string;
  commit: string;
  stack: string;
  targets: HealExpectation[];
}

export interface HealHostResult {
  host: string;
  /** `refused`: the plan skipped it (the default branch's rules or the hosts file do not allow it). */
  status: "succeeded" | "failed" | "superseded" | "refused";
  error?: string;
  deploymentId?: number;
}

export type Healer = (req: HealRequest) => Promise<HealHostResult[]>;

/** Heals run at once, at most this many plans (each its own runPlan) at a time. */
const HEAL_CONCURRENCY = 2;

/** Returns the targets a heal deploy ran for (succeeded or failed), to be checked again. */
export async function healDrifted(
  deps: DriftDeps,
  drifted: readonly DueTarget[],
  checked: readonly CheckedTarget[],
): Promise<DueTarget[]> {
  const go: DueTarget[] = [];
  for (const t of drifted) {
    const verdict = checked.find(
      (c) => c.repo === t.repo && c.stack === t.record.stack && c.host === t.record.host,
    )?.verdict;
    if (!t.settings.heal || verdict?.state !== "drifted") continue;
    if (await mayHeal(deps, t, verdict.healable)) go.push(t);
  }
  const groups = new Map<string, DueTarget[]>();
  for (const t of go) {
    const key = `${t.repo}\0${t.record.commit}\0${t.record.stack}`;
    groups.set(key, [...(groups.get(key) ?? []), t]);
  }
  const limit = new Limiter(HEAL_CONCURRENCY);
  const ran = await Promise.all([...groups.values()].map((g) => limit.run(() => healGroup(deps, g))));
  return ran.flat();
}

/** Whether to heal now; records why not (refused, not healable, given up). */
async function mayHeal(deps: DriftDeps, t: DueTarget, healable: boolean): Promise<boolean> {
  const target = { repo: t.repo, stack: t.record.stack, host: t.record.host };
  const refusal = healRefusal(t.record, healable);
  if (refusal) {
    await setHeal(deps, t, refusal.outcome, refusal.detail);
    return false;
  }
  const decision = healDecision(await deps.store.healAttempts(target, t.settings.heal_window), new Date(), {
    maxHeals: t.settings.max_heals,
    windowMs: t.settings.heal_window,
    backoffMs: deps.healBackoffMs ?? HEAL_BACKOFF_MS,
  });
  if (decision.action === "wait") return false;
  if (decision.action === "give_up") {
    const already =
      t.last?.heal?.outcome === "given_up" && t.last.heal.until?.getTime() === decision.until.getTime();
    if (!already)
      deps.log.error(
        `healing ${t.record.stack} on ${t.record.host} (${t.repo}) given up until ${decision.until.toISOString()}: ${decision.reason}`,
      );
    await setHeal(deps, t, "given_up", decision.reason, decision.until);
    deps.notifier.emit({
      type: "heal_given_up",
      ...target,
      commit: t.record.commit,
      until: decision.until,
      detail: decision.reason,
    });
    return false;
  }
  return true;
}

/** One plan of one stack's recorded commit for its drifted hosts; each host's outcome recorded. */
async function healGroup(deps: DriftDeps, group: readonly DueTarget[]): Promise<DueTarget[]> {
  const first = group[0] as DueTarget;
  const request: HealRequest = {
    repo: first.repo,
    commit: first.record.commit,
    stack: first.record.stack,
    targets: group.map((t) => ({
      repo: t.repo,
      stack: t.record.stack,
      host: t.record.host,
      commit: t.record.commit,
      deploymentId: t.record.deploymentId,
    })),
  };
  for (const t of group) await setHeal(deps, t, "healing", `redeploying ${t.record.commit.slice(0, 7)}`);
  deps.log.info(
    `healing ${first.record.stack} on ${group.map((t) => t.record.host).join(", ")} (${first.repo}): redeploying its recorded release ${first.record.commit.slice(0, 7)}`,
  );
  let results: HealHostResult[];
  try {
    results = await deps.heal(request);
  } catch (err) {
    const error = err instanceof Error ? err.message : String(err);
    results = group.map((t) => ({ host: t.record.host, status: "failed", error }));
  }
  const ran: DueTarget[] = [];
  for (const t of group) {
    const r = results.find((x) => x.host === t.record.host) ?? {
      host: t.record.host,
      status: "refused" as const,
      error: "the plan of the recorded commit does not deploy it here",
    };
    await recordHeal(deps, t, r);
    if (r.status === "succeeded" || r.status === "failed") ran.push(t);
  }
  return ran;
}

async function recordHeal(deps: DriftDeps, t: DueTarget, r: HealHostResult): Promise<void> {
  const target = { repo: t.repo, stack: t.record.stack, host: t.record.host };
  const where = `${target.stack} on ${target.host} (${target.repo})`;
  const deployment = r.deploymentId ? `deployment #${r.deploymentId}` : "no deployment";
  switch (r.status) {
    case "succeeded":
      await setHeal(deps, t, "healed", deployment);
      return;
    case "superseded":
      await setHeal(deps, t, "superseded", r.error ?? "a newer deploy of this target came first");
      return;
    case "refused":
      if (t.last?.heal?.outcome !== "refused")
        deps.log.warn(`${where} is not healed: ${r.error ?? "refused"}`);
      await setHeal(deps, t, "refused", r.error ?? "refused");
      return;
    case "failed":
      deps.log.warn(`healing ${where} failed (${deployment}); retried within its limit: ${r.error ?? ""}`);
      await setHeal(deps, t, "failed", `${deployment}: ${(r.error ?? "").split("\n").at(-1)}`);
      deps.notifier.emit({
        type: "heal_failed",
        ...target,
        commit: t.record.commit,
        error: r.error ?? "failed",
        ...(r.deploymentId ? { deploymentId: r.deploymentId } : {}),
      });
      return;
  }
}

function setHeal(
  deps: DriftDeps,
  t: DueTarget,
  outcome: HealOutcome,
  detail: string,
  until?: Date,
): Promise<void> {
  return deps.store.setHealState(
    { repo: t.repo, stack: t.record.stack, host: t.record.host },
    { outcome, detail, until: until ?? null },
  );
}
