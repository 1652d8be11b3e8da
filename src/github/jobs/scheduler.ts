/**
 * Scheduled procedures (`schedule: "0 4 * * *"`, `timezone: Europe/Berlin`): every round, each
 * schedule the default branches declared (registered when the App reads their rules) is asked by
 * croner for its latest slot; a slot of the last few minutes that no replica claimed yet is
 * claimed (one row per (procedure, slot): the first insert wins, so one replica fires it) and
 * becomes a run on the procedure queue. A slot missed by more than MAX_LATE_MS (the App was down)
 * is not run late.
 */

import { Cron } from "croner";
import { errorText } from "../../deploy/hostDeploy.ts";
import type { Store } from "../../state/store.ts";
import { startRounds } from "../../util/rounds.ts";
import type { ProcedureQueue } from "./procedureQueue.ts";

export const MAX_LATE_MS = 3 * 60_000;

export interface SchedulerDeps {
  store: Store;
  queue: Pick<ProcedureQueue, "send">;
  log: { info(msg: string): void; warn(msg: string): void };
  now?: () => Date;
}

/** One round: the runs it started. */
export async function fireDueSchedules(deps: SchedulerDeps): Promise<number[]> {
  const now = deps.now?.() ?? new Date();
  const started: number[] = [];
  for (const s of await deps.store.procedures.listSchedules()) {
    let slot: Date | undefined;
    try {
      slot = new Cron(s.cron, { paused: true, ...(s.timezone ? { timezone: s.timezone } : {}) }).previousRuns(
        1,
        now,
      )[0];
    } catch (err) {
      deps.log.warn(`schedule of ${s.repo} ${s.procedure} (${s.cron}) cannot be read: ${errorText(err)}`);
      continue;
    }
    if (!slot || now.getTime() - slot.getTime() > MAX_LATE_MS) continue;
    if (!(await deps.store.procedures.claimSlot(s.repo, s.procedure, slot))) continue;
    const { id } = await deps.store.procedures.createRun({
      repo: s.repo,
      repoRef: s.repoRef,
      procedure: s.procedure,
      source: "schedule",
      actor: `schedule ${s.cron}${s.timezone ? ` ${s.timezone}` : ""}`,
    });
    await deps.store.procedures.setSlotRun(s.repo, s.procedure, slot, id);
    await deps.queue.send(id);
    deps.log.info(`schedule: ${s.repo} ${s.procedure} for ${slot.toISOString()} is run #${id}`);
    started.push(id);
  }
  return started;
}

export function startScheduler(deps: SchedulerDeps & { intervalMs?: number }): { stop(): Promise<void> } {
  const { stop } = startRounds(
    () => fireDueSchedules(deps),
    deps.intervalMs ?? 20_000,
    (err) => deps.log.warn(`schedule round failed: ${errorText(err)}`),
  );
  return { stop };
}
