/** Events as the places they happen produce them, turned into notifier input. Pure. */
import type { HostJobResult } from "../deploy/orchestrate.ts";
import type { RollbackHostResult } from "../deploy/rollbackHost.ts";
import type { NotifyInput } from "./notifier.ts";

/**
 * A rollout's target result: failed (or rolled back) and succeeded are told; a removal or a
 * deployment superseded by a newer one is not an outcome anyone waits for.
 */
export function deployEvent(repo: string, commit: string, r: HostJobResult): NotifyInput | undefined {
  if (r.action !== "deploy" || r.status === "superseded") return undefined;
  const target = { repo, stack: r.stack, host: r.host, commit };
  const id = r.deploymentId !== undefined ? { deploymentId: r.deploymentId } : {};
  return r.status === "succeeded"
    ? { type: "deploy", ...target, ok: true, ...id }
    : { type: "deploy", ...target, ok: false, error: r.error ?? r.status, ...id };
}

/** A rollback of one target (the App's `/rollback` or `stackpilot rollback`), as it ended. */
export function rollbackEvent(
  target: { repo: string; stack: string; host: string },
  actor: string,
  r: RollbackHostResult,
): NotifyInput {
  return {
    type: "rollback",
    ...target,
    actor,
    ...(r.ok ? { ok: true, to: r.to, ...(r.from ? { from: r.from } : {}) } : { ok: false, error: r.error }),
  };
}
