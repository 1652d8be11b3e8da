/**
 * `POST /triggers/NAME`: one endpoint per trigger of the hosts file (config/triggers.ts), for
 * GitHub, Gitea, Forgejo or anything that can POST. Each request goes through these steps, and
 * each refusal queues nothing and stores nothing but a counter (`triggerCounters`):
 * 1. the trigger by name (404 when there is none); a signature or a bearer token must be there
 *    (401), and a declared body within the limit (413),
 * 2. a bearer token is compared (in constant time, as digests) before the body is read; a body is
 *    read against a byte budget shared by every trigger request not yet authenticated (503 when
 *    spent) and HMAC'd as it arrives (webhookRequest.ts), the signature compared in constant time,
 * 3. the body: empty, or a JSON object; a push payload (GitHub, Gitea, Forgejo) gives the branch
 *    and range, and a branch or repository outside the trigger's filters is `202 {"ignored": why}`,
 * 4. a run (state/procedureRuns.ts): a redelivery (same delivery id, or the same body within ten
 *    minutes) answers with the run the first one made, queued on the procedure queue,
 * 5. `202 {"id", "url", "status"}`; with `?wait=true` the answer waits (up to ten minutes) for
 *    the run's end and carries its result.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { z } from "zod";
import { readSecret as readSecretRef, type SecretRef } from "../../config/secretRef.ts";
import type { TriggerConfig } from "../../config/triggers.ts";
import { runView } from "../../procedures/view.ts";
import { RUN_ENDED } from "../../state/procedureRuns.ts";
import type { Store } from "../../state/store.ts";
import { compileGlob } from "../../util/glob.ts";
import type { ProcedureQueue } from "../jobs/procedureQueue.ts";
import { ByteBudget, busy, isRefusal, type Refusal, readBody, signatureMatches } from "./webhookRequest.ts";
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
/** Delivery ids GitHub, Gitea, Forgejo and Gogs send. */
const DELIVERY_HEADERS = ["x-github-delivery", "x-gitea-delivery", "x-forgejo-delivery", "x-gogs-delivery"];

/** What a push payload (GitHub, Gitea, Forgejo) says; anything else in the body is ignored. */
const PushLike = z.object({
  ref: z.string().max(300),
  before: z
    .string()
    .regex(/^[0-9a-f]{40,64}$/)
    .optional(),
  after: z
    .string()
    .regex(/^[0-9a-f]{40,64}$/)
    .optional(),
  repository: z.object({ full_name: z.string().max(300) }).optional(),
});

export function triggerRoute(deps: TriggerRouteDeps): HttpRoute {
  const limits = { ...DEFAULT_TRIGGER_LIMITS(), ...deps.limits };
  const byName = new Map(deps.triggers.map((t) => [t.name, t]));
  const read = deps.readSecret ?? ((ref, what) => readSecretRef(ref, what));
  return {
    async handle(req, res, path) {
      const m = TRIGGER_PATH.exec(path) ?? (path.startsWith("/triggers/") ? ["", ""] : undefined);
      if (!m) return false;
      const trigger = byName.get(m[1] ?? "");
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
      const answer = await accept(req, res, trigger);
      count(trigger.name, String(answer));
      deps.onAnswer?.(trigger.name, answer);
      return true;
    },
  };

  /** Steps 1-5; returns the status answered. */
  async function accept(req: IncomingMessage, res: ServerResponse, trigger: TriggerConfig): Promise<number> {
    const signature = one(req.headers["x-hub-signature-256"]);
    const bearer = /^Bearer (\S{1,4096})$/i.exec(one(req.headers.authorization) ?? "")?.[1];
    if (!signature && !bearer)
      return refuse(req, res, { status: 401, error: "missing X-Hub-Signature-256 or Authorization: Bearer" });
    if (signature && !/^sha256=[0-9a-f]{64}$/.test(signature))
      return refuse(req, res, { status: 401, error: "X-Hub-Signature-256 is not sha256= and 64 hex digits" });
    const declared = Number(one(req.headers["content-length"]) ?? 0);
    if (declared > limits.maxBodyBytes) return refuse(req, res, tooLarge(limits.maxBodyBytes));
    if (declared > limits.budget.free) return refuse(req, res, busy());
    let secret: string;
    try {
      secret = await read(trigger.secret, `secret of trigger ${trigger.name}`);
    } catch (err) {
      deps.log?.error(`trigger ${trigger.name}: ${(err as Error).message}`);
      return refuse(req, res, { status: 503, error: "the trigger's secret cannot be read on the server" });
    }
    if (!signature && !sameSecret(bearer ?? "", secret))
      return refuse(req, res, { status: 401, error: "the bearer token does not match" });

    const share = limits.budget.share();
    try {
      const body = await readBody(req, { maxBytes: limits.maxBodyBytes, share, secret });
      if ("aborted" in body) return 499;
      if (isRefusal(body)) return refuse(req, res, body);
      if (signature && !signatureMatches(body.hmac, signature))
        return refuse(req, res, { status: 401, error: "signature does not match the body" });
      return await start(req, res, trigger, body.body);
    } finally {
      share.release();
    }
  }

  async function start(
    req: IncomingMessage,
    res: ServerResponse,
    trigger: TriggerConfig,
    raw: Buffer,
  ): Promise<number> {
    const parsed = parseBody(raw);
    if (isRefusal(parsed)) return refuse(req, res, parsed);
    const push = PushLike.safeParse(parsed).data;
    const pushedBranch = push?.ref.startsWith("refs/heads/") ? push.ref.slice(11) : undefined;
    if (push && !pushedBranch) return ignored(res, `${push.ref} is not a branch`);
    const branches = trigger.branches ?? (trigger.branch ? [trigger.branch] : undefined);
    if (pushedBranch && branches && !compileGlob(branches)(pushedBranch))
      return ignored(
        res,
        `branch ${pushedBranch} is not among the trigger's branches (${branches.join(", ")})`,
      );
    const pushedRepo = push?.repository?.full_name;
    const repos = trigger.repositories ?? [trigger.repository];
    if (pushedRepo && !compileGlob(repos.map((r) => r.toLowerCase()))(pushedRepo.toLowerCase()))
      return ignored(
        res,
        `repository ${pushedRepo} is not among the trigger's repositories (${repos.join(", ")})`,
      );
    // The payload's range applies to the trigger's repository only; otherwise: its branch's head.
    const sameRepo = !pushedRepo || pushedRepo.toLowerCase() === trigger.repository.toLowerCase();
    const branch = (sameRepo ? pushedBranch : undefined) ?? trigger.branch ?? null;
    const range =
      sameRepo && push?.after && !/^0+$/.test(push.after)
        ? { head: push.after, ...(push.before && !/^0+$/.test(push.before) ? { base: push.before } : {}) }
        : {};
    const delivery = DELIVERY_HEADERS.map((h) => one(req.headers[h])).find(
      (v) => v && /^[\x21-\x7e]{1,200}$/.test(v),
    );
    const { id, duplicate } = await deps.store.procedures.createRun(
      {
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
      },
      delivery
        ? { trigger: trigger.name, key: `delivery:${delivery}` }
        : {
            trigger: trigger.name,
            key: `body:${createHash("sha256").update(raw).digest("hex")}`,
            windowMs: limits.dedupeWindowMs,
          },
    );
    if (!duplicate) {
      try {
        await deps.queue.send(id);
      } catch (err) {
        await deps.store.procedures.deleteRun(id).catch(() => {});
        deps.log?.error(`trigger ${trigger.name}: queueing run ${id} failed: ${(err as Error).message}`);
        return refuse(req, res, {
          status: 503,
          error: "the run could not be queued; try again",
          retryAfterS: 5,
        });
      }
    }
    const url = runUrl(req, id);
    const wait = new URL(req.url ?? "/", "http://x").searchParams.get("wait") === "true";
    if (!wait) {
      sendJson(req, res, 202, { id, url, status: "queued", ...(duplicate ? { duplicate: true } : {}) });
      return 202;
    }
    const view = await waitForEnd(id, limits.waitMs, () => req.socket.destroyed);
    if (!view) {
      sendJson(req, res, 202, { id, url, status: "running", waited: "gave up waiting" });
      return 202;
    }
    sendJson(req, res, 200, { id, url, ...(duplicate ? { duplicate: true } : {}), result: view });
    return 200;
  }

  async function waitForEnd(id: number, ms: number, gone: () => boolean) {
    const deadline = Date.now() + ms;
    for (let pause = 50; Date.now() < deadline && !gone(); pause = Math.min(pause * 2, 1000)) {
      const run = await deps.store.procedures.getRun(id);
      if (run && RUN_ENDED.has(run.status)) return runView(run, await deps.store.procedures.listSteps(id));
      await new Promise((r) => setTimeout(r, pause));
    }
    return undefined;
  }

  function runUrl(req: IncomingMessage, id: number): string {
    const base = deps.publicUrl ?? `http://${one(req.headers.host) ?? "localhost"}`;
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
}

/** Equal secrets, compared as digests in constant time (their lengths may differ). */
export function sameSecret(given: string, secret: string): boolean {
  const a = createHash("sha256").update(given).digest();
  const b = createHash("sha256").update(secret).digest();
  return timingSafeEqual(a, b);
}

function parseBody(raw: Buffer): Record<string, unknown> | Refusal {
  if (raw.length === 0) return {};
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(raw));
  } catch {
    return { status: 400, error: "the body is neither empty nor JSON in UTF-8" };
  }
  if (typeof value !== "object" || value === null || Array.isArray(value))
    return { status: 400, error: "the body is JSON but not an object" };
  return value as Record<string, unknown>;
}

function tooLarge(max: number): Refusal {
  return { status: 413, error: `the body is over ${max} bytes` };
}

function one(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
