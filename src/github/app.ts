/**
 * The Probot app. Do not add logic here: each webhook handler
 * 1. turns the event into a job (events.ts validates the payload),
 * 2. records the delivery id and the body's hash, so a redelivered or replayed event does nothing twice,
 * 3. queues the job (the worker does the work), and returns: GitHub gets its answer at once.
 */
import { createHash } from "node:crypto";
import type { ApplicationFunction, Probot } from "probot";
import type { Store } from "../state/store.ts";
import { type GithubJob, HANDLED_EVENTS, jobFor } from "./events.ts";
import { bodyDigestOf } from "./http/webhookRequest.ts";
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
      // The signature covers the body, not the delivery id: a signed body replayed under a new id
      // is caught by the body's own digest (GitHub's redeliveries keep their id, caught above).
      const bodyKey = `body:${bodyDigest(context.payload)}`;
      if (!(await deps.store.recordDelivery(bodyKey, event))) {
        context.log.warn({ delivery: context.id }, `${event} replays a body already handled: ignored`);
        return;
      }
      try {
        await deps.enqueue(job, context.id);
      } catch (err) {
        await deps.store.forgetDelivery(context.id);
        await deps.store.forgetDelivery(bodyKey);
        throw err;
      }
    });
    await deps.onLoad?.(app);
  };
}

/** The HMAC the webhook server computed over the raw body; a hash of the payload for events given to Probot directly. */
function bodyDigest(payload: object): string {
  return bodyDigestOf(payload) ?? createHash("sha256").update(JSON.stringify(payload)).digest("hex");
}
