/**
 * `POST /triggers/NAME`: one endpoint per trigger of the hosts file (config/triggers.ts), for
 * GitHub, Gitea, Forgejo or anything that can POST. Each request goes through these steps, and
 * each refusal queues nothing and stores nothing but a counter (`triggerCounters`):
 * 1. the trigger by name (404 when there is none); a signature or a bearer token must be there
 *    (401), and a declared body within the limit (413),
 * 2. a bearer token is compared (in constant time, as digests) before the body is read; a body is
 *    read against a byte budget shared by every trigger request not yet authenticated (503 when
 *    spent) and HMAC'd as it arrives (webhookRequest.ts), the signature compared in constant time,
 * 3. the body (triggerPayload.ts): empty, or a JSON object; a push payload (GitHub, Gitea, Forgejo)
 *    gives the branch and range, and a branch or repository outside the trigger's filters is
 *    `202 {"ignored": why}`,
 * 4. a run (triggerRun.ts, state/procedureRuns.ts): a redelivery (same delivery id, or the same
 *    body within ten minutes) answers with the run the first one made, queued on the procedure queue,
 * 5. `202 {"id", "url", "status"}`; with `?wait=true` the answer waits (up to ten minutes) for
 *    the run's end and carries its result.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from "node:http";
import { readSecret as readSecretRef, type SecretRef } from "../../config/secretRef.ts";
import type { TriggerConfig } from "../../config/triggers.ts";
import type { Store } from "../../state/store.ts";
import type { ProcedureQueue } from "../jobs/procedureQueue.ts";
import { parseBody, runTarget } from "./triggerPayload.ts";
import { dedupeKey, queueRun, waitForEnd } from "./triggerRun.ts";
import {
  ByteBudget,
  busy,
  isRefusal,
  type Refusal,
  readBody,
  type Share,
  signatureMatches,
} from "./webhookRequest.ts";
import { type HttpRoute, sendJson } from "./webhookServer.ts";

export interface TriggerLimits {
  /** A body over this is refused (413). Push payloads are far smaller; GitHub caps them at 25 MB. */
  maxBodyBytes: number;
  /** Bytes all trigger requests not yet authenticated may buffer together. */
  budget: ByteBudget;
  /** How long `?wait=true` holds a request. */
  waitMs: number;
  /** Same body, no delivery id: a redelivery within this window. */
  dedupeWindowMs: number;
}

export const DEFAULT_TRIGGER_LIMITS = (): TriggerLimits => ({
  maxBodyBytes: 5 * 1024 * 1024,
  budget: new ByteBudget(32 * 1024 * 1024),
  waitMs: 10 * 60_000,
  dedupeWindowMs: 10 * 60_000,
});

/** Requests by trigger and outcome, in memory only (for /metrics): refusals leave nothing else. */
export const triggerCounters = new Map<string, number>();
const count = (trigger: string, outcome: string) => {
  const key = `${trigger}\0${outcome}`;
  triggerCounters.set(key, (triggerCounters.get(key) ?? 0) + 1);
};

export interface TriggerRouteDeps {
  triggers: readonly TriggerConfig[];
  store: Store;
  queue: Pick<ProcedureQueue, "send">;
  limits?: Partial<TriggerLimits>;
  /** Reads a trigger's secret (injectable for tests); never logged or stored. */
  readSecret?: (ref: SecretRef, what: string) => Promise<string>;
  /** `https://stackpilot.example.com`: runs' URLs are absolute under it (else from the Host header). */
  publicUrl?: string;
  log?: { error(msg: string): void };
  /** Told how each request was answered (metrics). */
  onAnswer?(trigger: string, status: number): void;
}

const TRIGGER_PATH = /^\/triggers\/([A-Za-z0-9._-]{1,100})$/;

/** What each step reads: the route's deps, with its limits and secret reader defaulted. */
interface Route {
  deps: TriggerRouteDeps;
  limits: TriggerLimits;
  readSecret: (ref: SecretRef, what: string) => Promise<string>;
}

/** What a request offers to authenticate with, before any of its body is read. */
interface Credentials {
  /** `X-Hub-Signature-256`: `sha256=` and 64 hex digits. */
  signature: string | undefined;
  /** `Authorization: Bearer`. */
  bearer: string | undefined;
}

export function triggerRoute(deps: TriggerRouteDeps): HttpRoute {
  const route: Route = {
    deps,
    limits: { ...DEFAULT_TRIGGER_LIMITS(), ...deps.limits },
    readSecret: deps.readSecret ?? ((ref, what) => readSecretRef(ref, what)),
  };
  const byName = new Map(deps.triggers.map((t) => [t.name, t]));
  return {
    async handle(req, res, path) {
      // Every path under /triggers/ is ours: a name that cannot be a trigger's is an unknown one.
      if (!path.startsWith("/triggers/")) return false;
      const trigger = byName.get(TRIGGER_PATH.exec(path)?.[1] ?? "");
      if (!trigger) {
        count("(unknown)", "404");
        deps.onAnswer?.("(unknown)", 404);
        sendJson(req, res, 404, { error: "no such trigger" });
        return true;
      }
      if (req.method !== "POST") {
        sendJson(req, res, 405, { error: "triggers take POST" });
        return true;
      }
      const answer = await accept(route, req, res, trigger);
      count(trigger.name, String(answer));
      deps.onAnswer?.(trigger.name, answer);
      return true;
    },
  };
}

/** Steps 1-5; returns the status answered. */
async function accept(
  route: Route,
  req: IncomingMessage,
  res: ServerResponse,
  trigger: TriggerConfig,
): Promise<number> {
  const credentials = credentialsOf(req.headers, route.limits);
  if (isRefusal(credentials)) return refuse(req, res, credentials);
  const secret = await authenticate(route, trigger, credentials);
  if (typeof secret !== "string") return refuse(req, res, secret);
  const share = route.limits.budget.share();
  try {
    const read = { maxBytes: route.limits.maxBodyBytes, share, secret };
    const body = await readSignedBody(req, read, credentials.signature);
    if ("aborted" in body) return 499;
    if (isRefusal(body)) return refuse(req, res, body);
    // Authenticated: its bytes leave the budget of the unauthenticated, which a `?wait=true`
    // request would otherwise hold for as long as it waits.
    share.release();
    return await start(route, req, res, trigger, body.body);
  } finally {
    share.release();
  }
}

/** Step 1: a signature or a bearer token, and a declared body the limit and the budget allow. */
function credentialsOf(headers: IncomingHttpHeaders, limits: TriggerLimits): Credentials | Refusal {
  const signature = one(headers["x-hub-signature-256"]);
  const bearer = /^Bearer (\S{1,4096})$/i.exec(one(headers.authorization) ?? "")?.[1];
  if (!signature && !bearer)
    return { status: 401, error: "missing X-Hub-Signature-256 or Authorization: Bearer" };
  if (signature && !/^sha256=[0-9a-f]{64}$/.test(signature))
    return { status: 401, error: "X-Hub-Signature-256 is not sha256= and 64 hex digits" };
  const declared = Number(one(headers["content-length"]) ?? 0);
  if (declared > limits.maxBodyBytes) return tooLarge(limits.maxBodyBytes);
  if (declared > limits.budget.free) return busy();
  return { signature, bearer };
}

/** Step 2, before the body: the trigger's secret, which a bearer token must equal. */
async function authenticate(
  route: Route,
  trigger: TriggerConfig,
  { signature, bearer }: Credentials,
): Promise<string | Refusal> {
  let secret: string;
  try {
    secret = await route.readSecret(trigger.secret, `secret of trigger ${trigger.name}`);
  } catch (err) {
    route.deps.log?.error(`trigger ${trigger.name}: ${(err as Error).message}`);
    return { status: 503, error: "the trigger's secret cannot be read on the server" };
  }
  if (!signature && !sameSecret(bearer ?? "", secret))
    return { status: 401, error: "the bearer token does not match" };
  return secret;
}

/** Step 2, the body: read within the limit and `share`, and the signature (if any) checked over it. */
async function readSignedBody(
  req: IncomingMessage,
  read: { maxBytes: number; share: Share; secret: string },
  signature: string | undefined,
) {
  const body = await readBody(req, read);
  if ("aborted" in body || isRefusal(body)) return body;
  if (signature && !signatureMatches(body.hmac, signature))
    return { status: 401, error: "signature does not match the body" };
  return body;
}

/** Steps 3-5, on an authenticated body; returns the status answered. */
async function start(
  route: Route,
  req: IncomingMessage,
  res: ServerResponse,
  trigger: TriggerConfig,
  raw: Buffer,
): Promise<number> {
  const parsed = parseBody(raw);
  if (isRefusal(parsed)) return refuse(req, res, parsed);
  const target = runTarget(trigger, parsed.body);
  if ("ignored" in target) return ignored(res, target.ignored);
  const dedupe = dedupeKey(req, trigger, raw, route.limits.dedupeWindowMs);
  const run = await queueRun(route.deps, trigger, target, dedupe);
  if (isRefusal(run)) return refuse(req, res, run);
  return answerRun(route, req, res, run);
}

/** Step 5: the run at once, or with `?wait=true` its result once it ends (or that it still runs). */
async function answerRun(
  route: Route,
  req: IncomingMessage,
  res: ServerResponse,
  { id, duplicate }: { id: number; duplicate: boolean },
): Promise<number> {
  const url = runUrl(route.deps.publicUrl, req, id);
  const wait = new URL(req.url ?? "/", "http://x").searchParams.get("wait") === "true";
  if (!wait) {
    sendJson(req, res, 202, { id, url, status: "queued", ...(duplicate ? { duplicate: true } : {}) });
    return 202;
  }
  const view = await waitForEnd(route.deps.store, id, route.limits.waitMs, () => req.socket.destroyed);
  if (!view) {
    sendJson(req, res, 202, { id, url, status: "running", waited: "gave up waiting" });
    return 202;
  }
  sendJson(req, res, 200, { id, url, ...(duplicate ? { duplicate: true } : {}), result: view });
  return 200;
}

function runUrl(publicUrl: string | undefined, req: IncomingMessage, id: number): string {
  const base = publicUrl ?? `http://${one(req.headers.host) ?? "localhost"}`;
  return `${base.replace(/\/$/, "")}/api/runs/${id}`;
}

function refuse(req: IncomingMessage, res: ServerResponse, r: Refusal): number {
  sendJson(req, res, r.status, { error: r.error }, r.retryAfterS);
  return r.status;
}

function ignored(res: ServerResponse, why: string): number {
  res.writeHead(202, { "content-type": "application/json" }).end(JSON.stringify({ ignored: why }));
  return 202;
}

/** Equal secrets, compared as digests in constant time (their lengths may differ). */
export function sameSecret(given: string, secret: string): boolean {
  const a = createHash("sha256").update(given).digest();
  const b = createHash("sha256").update(secret).digest();
  return timingSafeEqual(a, b);
}

function tooLarge(max: number): Refusal {
  return { status: 413, error: `the body is over ${max} bytes` };
}

function one(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
