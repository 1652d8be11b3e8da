/**
 * The Probot app. Do not add logic here: each webhook handler
 * 1. turns the event into a job (events.ts validates the payload),
 * 2. records the delivery id, so a redelivered event does nothing twice,
 * 3. queues the job (the worker does the work), and returns: GitHub gets its answer at once.
 */
import type { ApplicationFunction, Probot } from "probot";
import type { Store } from "../state/store.ts";
import { type GithubJob, HANDLED_EVENTS, jobFor } from "./events.ts";
import { PayloadError } from "./payloads.ts";

export interface AppDeps {
  store: Pick<Store, "recordDelivery" | "forgetDelivery">;
  enqueue(job: GithubJob, deliveryId: string): Promise<void>;
  /** Called once with the app, e.g. to start the worker that needs its installation auth. */
  onLoad?(app: Probot): Promise<void>;
}

export function stackpilotApp(deps: AppDeps): ApplicationFunction {
  return async (app) => {
    app.on([...HANDLED_EVENTS], async (context) => {
      const payload = context.payload as { action?: string };
      const event = payload.action ? `${context.name}.${payload.action}` : context.name;
      let job: GithubJob | undefined;
      try {
        job = jobFor(event, context.payload);
      } catch (err) {
        if (!(err instanceof PayloadError)) throw err;
        context.log.warn({ delivery: context.id }, err.message);
        return;
      }
      if (!job) return;
      if (!(await deps.store.recordDelivery(context.id, event))) {
        context.log.info({ delivery: context.id }, `duplicate delivery of ${event}: ignored`);
        return;
      }
      try {
        await deps.enqueue(job, context.id);
      } catch (err) {
        await deps.store.forgetDelivery(context.id);
        throw err;
      }
    });
    await deps.onLoad?.(app);
  };
}
