/**
 * `GET /api/runs/ID`: a procedure run with every stage and step (procedures/view.ts). Runs say
 * what deployed where, so the endpoint is authenticated with `Authorization: Bearer`: the server's
 * API token (`STACKPILOT_API_TOKEN`, any run) or the secret of the trigger that made the run (that
 * run only). Unauthenticated callers learn nothing, not even whether the run exists (401).
 */
import type { SecretRef } from "../../config/secretRef.ts";
import { readSecret as readSecretRef } from "../../config/secretRef.ts";
import type { TriggerConfig } from "../../config/triggers.ts";
import { runView } from "../../procedures/view.ts";
import type { Store } from "../../state/store.ts";
import { sameSecret } from "./triggers.ts";
import type { HttpRoute } from "./webhookServer.ts";
import { sendJson } from "./webhookServer.ts";

const RUN_PATH = /^\/api\/runs\/([0-9]{1,15})$/;

export function runsApiRoute(deps: {
  store: Store;
  triggers: readonly TriggerConfig[];
  apiToken?: string | undefined;
  readSecret?: (ref: SecretRef, what: string) => Promise<string>;
}): HttpRoute {
  const read = deps.readSecret ?? ((ref, what) => readSecretRef(ref, what));
  return {
    async handle(req, res, path) {
      const m = RUN_PATH.exec(path);
      if (!m) return false;
      if (req.method !== "GET") {
        sendJson(req, res, 405, { error: "GET only" });
        return true;
      }
      const token = /^Bearer (\S{1,4096})$/i.exec(String(req.headers.authorization ?? ""))?.[1];
      if (!token) {
        sendJson(req, res, 401, { error: "Authorization: Bearer is required" });
        return true;
      }
      const id = Number(m[1]);
      const admin = deps.apiToken ? sameSecret(token, deps.apiToken) : false;
      const run = await deps.store.procedures.getRun(id);
      let allowed = admin;
      if (!allowed && run?.triggerName) {
        const trigger = deps.triggers.find((t) => t.name === run.triggerName);
        if (trigger)
          allowed = sameSecret(
            token,
            await read(trigger.secret, `secret of trigger ${trigger.name}`).catch(() => ""),
          );
      }
      if (!allowed) {
        sendJson(req, res, 401, { error: "this token does not open this run" });
        return true;
      }
      if (!run) {
        sendJson(req, res, 404, { error: `no run ${id}` });
        return true;
      }
      sendJson(req, res, 200, runView(run, await deps.store.procedures.listSteps(id)));
      return true;
    },
  };
}
