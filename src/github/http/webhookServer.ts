/**
 * The HTTP side of the app: the webhook endpoint and `/ping`. A delivery goes through these
 * steps (webhookRequest.ts), each refusing with a 4xx and the reason:
 * 1. headers: a signature (401 without one, nothing read), JSON, an event name, a delivery id,
 *    a declared length within GitHub's 25 MB (413 before reading),
 * 2. the body, buffered against a budget shared by every request not yet verified (503 when
 *    spent) and hashed as it arrives,
 * 3. the signature over those raw bytes (401, nothing stored),
 * 4. the payload: a JSON object in UTF-8,
 * 5. Probot's `receive` runs the app's handlers (record the delivery, queue the job): 200.
 * Probot's own middleware would parse the body as a UTF-8 string and verify the signature again
 * over that, refusing correctly signed bodies with the wrong reason and answering 500 to a
 * `null` payload or a `__proto__` event.
 */
import {
  createServer,
  type IncomingMessage,
  type RequestListener,
  type Server,
  type ServerOptions,
  type ServerResponse,
} from "node:http";
import type { ApplicationFunction, Probot } from "probot";
import {
  ByteBudget,
  busy,
  deliveryHeaders,
  isRefusal,
  MAX_BODY_BYTES,
  parsePayload,
  type Refusal,
  readBody,
  rememberBodyDigest,
  signatureMatches,
} from "./webhookRequest.ts";

export { validSignature } from "./webhookRequest.ts";

export const WEBHOOK_PATH = "/api/github/webhooks";

export interface WebhookLimits {
  /** Body size refused with 413 (GitHub's own cap). */
  maxBodyBytes: number;
  /** Bytes all requests together may buffer before their signature is checked. */
  budget: ByteBudget;
  /** Time for a request's headers to arrive. */
  headersTimeoutMs: number;
  /** Time for a whole request to arrive (a slow sender holds its buffer no longer). */
  requestTimeoutMs: number;
}

export const DEFAULT_BUFFER_BUDGET_BYTES = 64 * 1024 * 1024;

/**
 * Another endpoint on the same server (health, metrics, triggers, pages): it answers the requests
 * it claims (returning true) and bounds its own input; the rest fall through to the webhook path.
 * Each lives in its own module under http/ and is listed in server.ts.
 */
export interface HttpRoute {
  handle(req: IncomingMessage, res: ServerResponse, path: string): Promise<boolean> | boolean;
  /** Ends the route's long-lived responses (streams) when the server stops. */
  close?(): void;
}

function limitsWith(given: Partial<WebhookLimits> = {}): WebhookLimits {
  return {
    maxBodyBytes: MAX_BODY_BYTES,
    budget: new ByteBudget(DEFAULT_BUFFER_BUDGET_BYTES),
    // GitHub gives up on a delivery after 10 s; a sender slower than this is not GitHub.
    headersTimeoutMs: 10_000,
    requestTimeoutMs: 30_000,
    ...given,
  };
}

export interface WebhookServerOptions {
  appFn: ApplicationFunction;
  probot: Probot;
  secret: string;
  limits?: Partial<WebhookLimits>;
  /** Tried in order before the webhook path. */
  routes?: readonly HttpRoute[];
  /** Told how each webhook request was answered (metrics); `event` is the sender's header. */
  observe?: (event: string | undefined, status: number) => void;
}

export async function createWebhookServer(opts: WebhookServerOptions): Promise<Server> {
  return createServer(httpServerOptions(opts.limits), await createWebhookHandler(opts));
}

/** The server's own limits: how long headers and a whole request may take to arrive. */
export function httpServerOptions(given?: Partial<WebhookLimits>): ServerOptions {
  const limits = limitsWith(given);
  return {
    headersTimeout: limits.headersTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    // How often Node looks for requests past those timeouts (its default is 30 s).
    connectionsCheckingInterval: Math.min(1_000, limits.headersTimeoutMs),
  };
}

/** The app loaded into Probot, and the request handler serving it (for a server already listening). */
export async function createWebhookHandler(opts: WebhookServerOptions): Promise<RequestListener> {
  const limits = limitsWith(opts.limits);
  await opts.probot.load(opts.appFn, {
    cwd: process.cwd(),
    addHandler: () => {
      throw new Error("Stackpilot serves no routes of its own from the app");
    },
  });
  return (req, res) => {
    route(req, res, opts, limits).catch((err: unknown) => {
      opts.probot.log.error({ err }, "webhook request failed");
      sendJson(req, res, 500, { error: "internal error" });
    });
  };
}

async function route(
  req: IncomingMessage,
  res: ServerResponse,
  opts: WebhookServerOptions,
  limits: WebhookLimits,
): Promise<void> {
  const path = (req.url ?? "").split("?")[0] ?? "";
  if (req.method === "GET" && path === "/ping") {
    res.writeHead(200, { "content-type": "text/plain" }).end("PONG");
    return;
  }
  for (const r of opts.routes ?? []) if (await r.handle(req, res, path)) return;
  if (req.method !== "POST" || path !== WEBHOOK_PATH) {
    sendJson(req, res, 404, { error: "not found" });
    return;
  }
  const { observe } = opts;
  if (observe)
    res.once("finish", () => observe(req.headers["x-github-event"] as string | undefined, res.statusCode));
  const headers = deliveryHeaders(req.headers, limits.maxBodyBytes);
  if (isRefusal(headers)) return refuse(req, res, headers);
  if (headers.length !== undefined && headers.length > limits.budget.free) return refuse(req, res, busy());

  const share = limits.budget.share();
  try {
    const read = await readBody(req, { maxBytes: limits.maxBodyBytes, share, secret: opts.secret });
    if ("aborted" in read) return;
    if (isRefusal(read)) return refuse(req, res, read);
    if (!signatureMatches(read.hmac, headers.signature))
      return refuse(req, res, { status: 401, error: "signature does not match the body" });
    // Authenticated: the budget bounds only what unauthenticated senders make us buffer.
    share.release();
    const parsed = parsePayload(read.body);
    if (isRefusal(parsed)) return refuse(req, res, parsed);
    rememberBodyDigest(parsed.payload, read.hmac);
    const event = { id: headers.id, name: headers.name, payload: parsed.payload };
    opts.probot.log.debug(`${headers.name} event received (id: ${headers.id})`);
    try {
      await opts.probot.receive(event as Parameters<Probot["receive"]>[0]);
    } catch {
      // Probot's error handler has logged it; GitHub shows the delivery as failed (redeliverable).
      return sendJson(req, res, 500, { error: "the app failed to handle the event; see its log" });
    }
    res.writeHead(200, { "content-type": "text/plain" }).end("ok\n");
  } finally {
    share.release();
  }
}

function refuse(req: IncomingMessage, res: ServerResponse, r: Refusal): void {
  sendJson(req, res, r.status, { error: r.error }, r.retryAfterS);
}

/** A JSON answer (webhooks, triggers, the runs API); nothing once the answer or the socket is gone. */
export function sendJson(
  req: IncomingMessage,
  res: ServerResponse,
  status: number,
  body: unknown,
  retryAfterS?: number,
): void {
  if (res.headersSent || req.socket.destroyed) return;
  res
    .writeHead(status, {
      "content-type": "application/json",
      ...(retryAfterS === undefined ? {} : { "retry-after": String(retryAfterS) }),
      // A body left unread is not read on: the connection closes after the answer.
      ...(req.complete ? {} : { connection: "close" }),
    })
    .end(JSON.stringify(body));
}
