/**
 * The run a trigger request makes (steps 4 and 5 of triggers.ts): a redelivery (same delivery id,
 * or the same body within the dedupe window) gets the run the first one made; a new run is queued
 * on the procedure queue, or deleted again when it cannot be; `?wait=true` polls it to its end.
 */
import { createHash } from "node:crypto";
import type { IncomingMessage } from "node:http";
import type { TriggerConfig } from "../../config/triggers.ts";
import { runView } from "../../procedures/view.ts";
import { type Dedupe, type NewRun, RUN_ENDED } from "../../state/procedureRuns.ts";
import type { Store } from "../../state/store.ts";
import type { ProcedureQueue } from "../jobs/procedureQueue.ts";
import type { RunTarget } from "./triggerPayload.ts";
import type { Refusal } from "./webhookRequest.ts";

/** Delivery ids GitHub, Gitea, Forgejo and Gogs send. */
const DELIVERY_HEADERS = ["x-github-delivery", "x-gitea-delivery", "x-forgejo-delivery", "x-gogs-delivery"];

export interface TriggerRunDeps {
  store: Store;
  queue: Pick<ProcedureQueue, "send">;
  log?: { error(msg: string): void };
}

/** How a redelivery is known: by the sender's delivery id, else by the body within `windowMs`. */
export function dedupeKey(
  req: IncomingMessage,
  trigger: TriggerConfig,
  raw: Buffer,
  windowMs: number,
): Dedupe {
  const delivery = DELIVERY_HEADERS.map((h) => one(req.headers[h])).find(
    (v) => v && /^[\x21-\x7e]{1,200}$/.test(v),
  );
  if (delivery) return { trigger: trigger.name, key: `delivery:${delivery}` };
  return { trigger: trigger.name, key: `body:${createHash("sha256").update(raw).digest("hex")}`, windowMs };
}

/** The trigger's run: created and queued, or the first one's for a redelivery (`duplicate`). */
export async function queueRun(
  deps: TriggerRunDeps,
  trigger: TriggerConfig,
  target: RunTarget,
  dedupe: Dedupe,
): Promise<{ id: number; duplicate: boolean } | Refusal> {
  const run = await deps.store.procedures.createRun(newRun(trigger, target), dedupe);
  if (run.duplicate) return run;
  try {
    await deps.queue.send(run.id);
  } catch (err) {
    // Its delivery goes with it (ON DELETE CASCADE), so the sender's retry makes a new run.
    await deps.store.procedures.deleteRun(run.id).catch(() => {});
    deps.log?.error(`trigger ${trigger.name}: queueing run ${run.id} failed: ${(err as Error).message}`);
    return { status: 503, error: "the run could not be queued; try again", retryAfterS: 5 };
  }
  return run;
}

function newRun(trigger: TriggerConfig, { branch, ...range }: RunTarget): NewRun {
  return {
    repo: trigger.repository,
    branch,
    procedure: trigger.procedure ?? null,
    source: "trigger",
    triggerName: trigger.name,
    actor: `trigger ${trigger.name}`,
    ...range,
    filters: {
      ...(trigger.stacks ? { stacks: trigger.stacks } : {}),
      ...(trigger.hosts ? { hosts: trigger.hosts } : {}),
      ...(trigger.paths ? { paths: trigger.paths } : {}),
    },
  };
}

/** The run's view once it has ended; undefined when `ms` pass first or the caller goes away. */
export async function waitForEnd(store: Store, id: number, ms: number, gone: () => boolean) {
  const deadline = Date.now() + ms;
  for (let pause = 50; Date.now() < deadline && !gone(); pause = Math.min(pause * 2, 1000)) {
    const run = await store.procedures.getRun(id);
    if (run && RUN_ENDED.has(run.status)) return runView(run, await store.procedures.listSteps(id));
    await new Promise((r) => setTimeout(r, pause));
  }
  return undefined;
}

function one(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
