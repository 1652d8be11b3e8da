/**
 * Whether to heal a drifted target now, from the heals it already had: at most `maxHeals` within
 * `healWindowMs`, then give up (loudly) until the oldest of them leaves the window; after a failed
 * heal, wait a backoff that doubles with each failure in a row before the next. A failed heal is
 * retried at a later round within the limit (Argo CD's self-heal never retried one: argo-cd
 * #18442). Before any of that, `healRefusal` says which targets are never healed. Pure.
 */
import type { DeployedState } from "../state/deployed.ts";
import type { HealAttempt } from "../state/drift.ts";

export interface HealLimits {
  maxHeals: number;
  windowMs: number;
  /** The wait after one failed heal; doubled for each further failure in a row. */
  backoffMs: number;
}

export const HEAL_BACKOFF_MS = 60_000;

export type HealDecision =
  | { action: "heal" }
  /** A heal of this target runs now, or the backoff after failures is not over. */
  | { action: "wait"; until: Date; reason: string }
  | { action: "give_up"; until: Date; reason: string };

const FAILED = new Set(["failed", "rolled_back", "interrupted"]);

/** `attempts`: the target's heals, newest first, at least those within the window. */
export function healDecision(attempts: readonly HealAttempt[], now: Date, limits: HealLimits): HealDecision {
  // A heal that gave way to a newer deploy was no attempt at all.
  const counted = attempts.filter((a) => a.status !== "superseded");
  if (counted.some((a) => a.status === "queued" || a.status === "running"))
    return { action: "wait", until: now, reason: "a heal of this target is running" };
  const inWindow = counted.filter((a) => now.getTime() - a.createdAt.getTime() < limits.windowMs);
  if (inWindow.length >= limits.maxHeals) {
    const oldest = inWindow.reduce((a, b) => (a.createdAt < b.createdAt ? a : b));
    return {
      action: "give_up",
      until: new Date(oldest.createdAt.getTime() + limits.windowMs),
      reason: `${inWindow.length} heals within ${Math.round(limits.windowMs / 60_000)} minutes did not keep it in sync`,
    };
  }
  let failures = 0;
  while (failures < inWindow.length && FAILED.has((inWindow[failures] as HealAttempt).status)) failures++;
  if (failures > 0) {
    const delay = Math.min(limits.backoffMs * 2 ** (failures - 1), limits.windowMs);
    const until = new Date((inWindow[0] as HealAttempt).createdAt.getTime() + delay);
    if (now < until)
      return {
        action: "wait",
        until,
        reason: `backing off after ${failures} failed heal${failures > 1 ? "s" : ""}`,
      };
  }
  return { action: "heal" };
}

/**
 * Why a drifted target is never healed, whatever its heals so far; undefined when it may be.
 * `healable`: whether a redeploy can repair what differs (liveState.ts). Pure.
 */
export function healRefusal(
  record: Pick<DeployedState, "pinned">,
  healable: boolean,
): { outcome: "refused" | "not_healable"; detail: string } | undefined {
  if (record.pinned)
    return {
      outcome: "refused",
      detail: "pinned by a rollback: never healed away from it (deploy it explicitly to unpin)",
    };
  if (!healable)
    return {
      outcome: "not_healable",
      detail: "only what a redeploy does not change differs (one-off containers)",
    };
  return undefined;
}
