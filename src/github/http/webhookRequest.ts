/**
 * One webhook delivery taken apart, each step refusing with a status and the true reason:
 * its headers (`deliveryHeaders`), its body read against a shared byte budget and hashed as it
 * arrives (`readBody`), the signature over those raw bytes (`signatureMatches`), and the JSON
 * payload (`parsePayload`). The signature is checked once, on the bytes GitHub signed.
 */
import { createHmac, type Hmac, timingSafeEqual } from "node:crypto";
import type { IncomingHttpHeaders, IncomingMessage } from "node:http";

/** GitHub caps webhook payloads at 25 MB (it does not deliver bigger ones). */
export const MAX_BODY_BYTES = 25 * 1024 * 1024;

/** A delivery refused: the HTTP status and the reason, for the sender. */
export interface Refusal {
  status: number;
  error: string;
  /** Seconds, for a 503. */
  retryAfterS?: number;
}

export const isRefusal = (x: object): x is Refusal => "status" in x && "error" in x;

/**
 * The HMAC of each verified body, keyed by the payload object Probot hands to the handlers, so the
 * replay check (app.ts) uses the digest already computed over the raw bytes instead of serialising
 * up to 25 MB again. Weak: an entry goes with its payload.
 */
const bodyDigests = new WeakMap<object, string>();

export function rememberBodyDigest(payload: object, hmac: Buffer): void {
  bodyDigests.set(payload, hmac.toString("hex"));
}

/** The digest of the signed body `payload` was parsed from; undefined for events not received over HTTP. */
export function bodyDigestOf(payload: object): string | undefined {
  return bodyDigests.get(payload);
}

export interface DeliveryHeaders {
  /** `X-GitHub-Delivery`. */
  id: string;
  /** `X-GitHub-Event`. */
  name: string;
  /** `X-Hub-Signature-256`: `sha256=` and 64 hex digits. */
  signature: string;
  /** `Content-Length`, when the sender gave one. */
  length?: number;
}

const SIGNATURE = /^sha256=[0-9a-f]{64}$/;
/** GitHub's event names (`pull_request`, `check_run`, ...). */
const EVENT_NAME = /^[a-z][a-z0-9_]{0,63}$/;
/**
 * @octokit/webhooks looks handlers up by event name in a plain object and keeps its error
 * handlers under `error`: such names would reach the wrong code (`__proto__` failed with a 500).
 */
const RESERVED_EVENT_NAMES = new Set(["error", ...Object.getOwnPropertyNames(Object.prototype)]);
const DELIVERY_ID = /^[\x21-\x7e]{1,200}$/;
const JSON_TYPE = /^\s*application\/json\s*(?:;|$)/i;

/**
 * The headers a delivery needs, checked before any of the body is read. The signature comes
 * first: a request without one learns nothing else and has nothing read or stored.
 */
export function deliveryHeaders(headers: IncomingHttpHeaders, maxBytes: number): DeliveryHeaders | Refusal {
  const signature = one(headers["x-hub-signature-256"]);
  if (!signature) return { status: 401, error: "missing X-Hub-Signature-256 signature" };
  if (!SIGNATURE.test(signature))
    return { status: 401, error: "X-Hub-Signature-256 is not sha256= and 64 hex digits" };
  const type = one(headers["content-type"]);
  if (!type || !JSON_TYPE.test(type))
    return {
      status: 415,
      error: "Content-Type must be application/json (set it in the App's webhook settings)",
    };
  const name = one(headers["x-github-event"]);
  if (!name) return { status: 400, error: "missing X-GitHub-Event header" };
  if (!EVENT_NAME.test(name) || RESERVED_EVENT_NAMES.has(name))
    return { status: 400, error: `X-GitHub-Event ${JSON.stringify(name.slice(0, 64))} is not an event name` };
  const id = one(headers["x-github-delivery"]);
  if (!id) return { status: 400, error: "missing X-GitHub-Delivery header" };
  if (!DELIVERY_ID.test(id))
    return { status: 400, error: "X-GitHub-Delivery must be 1 to 200 printable characters without spaces" };
  const declared = one(headers["content-length"]);
  const length = declared === undefined ? undefined : Number(declared);
  if (length !== undefined && length > maxBytes) return tooLarge(maxBytes);
  return { id, name, signature, ...(length === undefined ? {} : { length }) };
}

/**
 * Bytes that requests whose signature is not yet checked may buffer, all together: without a
 * bound, anyone could make the server hold 25 MB per open connection. A request takes its share
 * as it reads and gives it back when it ends, however it ends.
 */
export class ByteBudget {
  #used = 0;
  readonly limit: number;
  constructor(limit: number) {
    this.limit = limit;
  }

  get used(): number {
    return this.#used;
  }

  get free(): number {
    return this.limit - this.#used;
  }

  /** One request's share: `take` grows it (false when the budget is spent), `release` returns it all. */
  share(): { take(bytes: number): boolean; release(): void } {
    let held = 0;
    return {
      take: (bytes) => {
        if (this.#used + bytes > this.limit) return false;
        this.#used += bytes;
        held += bytes;
        return true;
      },
      release: () => {
        this.#used -= held;
        held = 0;
      },
    };
  }
}

export type Share = ReturnType<ByteBudget["share"]>;

/** A request that ended before its body did (the sender went away, or the server's timeout). */
export interface Aborted {
  aborted: true;
}

/**
 * The body, counted against `maxBytes` (413) and taken from `share` as it arrives (503 when the
 * budget is spent), with the HMAC-SHA256 of it under `secret` computed on the way.
 */
export function readBody(
  req: IncomingMessage,
  opts: { maxBytes: number; share: Share; secret: string },
): Promise<{ body: Buffer; hmac: Buffer } | Refusal | Aborted> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const hmac: Hmac = createHmac("sha256", opts.secret);
    let size = 0;
    const stop = (result: { body: Buffer; hmac: Buffer } | Refusal | Aborted) => {
      req.off("data", onData).off("end", onEnd).off("error", onGone).off("close", onGone);
      chunks.length = 0;
      resolve(result);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > opts.maxBytes) return stop(tooLarge(opts.maxBytes));
      if (!opts.share.take(chunk.length)) return stop(busy());
      hmac.update(chunk);
      chunks.push(chunk);
    };
    const onEnd = () => stop({ body: Buffer.concat(chunks, size), hmac: hmac.digest() });
    const onGone = () => stop({ aborted: true });
    req.on("data", onData).on("end", onEnd).on("error", onGone).on("close", onGone);
  });
}

/** Is `header` (`sha256=<hex>`) the HMAC computed over the body? In constant time. */
export function signatureMatches(hmac: Buffer, header: string): boolean {
  const given = Buffer.from(header.slice("sha256=".length), "hex");
  return given.length === hmac.length && timingSafeEqual(given, hmac);
}

/** `X-Hub-Signature-256` over `body` checked as GitHub computes it. */
export function validSignature(secret: string, body: Buffer, header: string | undefined): boolean {
  if (!header || !SIGNATURE.test(header)) return false;
  return signatureMatches(createHmac("sha256", secret).update(body).digest(), header);
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** The payload: a JSON object in UTF-8, as GitHub sends it (a UTF-8 byte order mark is skipped). */
export function parsePayload(body: Buffer): { payload: Record<string, unknown> } | Refusal {
  if (body.length === 0) return invalid("the body is empty: a webhook payload is a JSON object");
  if (isUtf16(body)) return invalid("the body is UTF-16: GitHub sends webhook payloads as UTF-8 JSON");
  let text: string;
  try {
    text = utf8.decode(body);
  } catch {
    return invalid("the body is not valid UTF-8: GitHub sends webhook payloads as UTF-8 JSON");
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return invalid(`the body is not JSON: ${(err as Error).message.slice(0, 200)}`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    const kind = value === null ? "null" : Array.isArray(value) ? "an array" : `a ${typeof value}`;
    return invalid(`the payload is ${kind}: a webhook payload is a JSON object`);
  }
  return { payload: value as Record<string, unknown> };
}

/** A byte order mark, or a NUL among the first two bytes (JSON text never holds a raw NUL). */
function isUtf16(body: Buffer): boolean {
  const [a, b] = [body[0], body[1]];
  return (a === 0xff && b === 0xfe) || (a === 0xfe && b === 0xff) || a === 0 || b === 0;
}

function one(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function tooLarge(maxBytes: number): Refusal {
  return { status: 413, error: `the body is over ${maxBytes} bytes, GitHub's limit for webhook payloads` };
}

export function busy(): Refusal {
  return {
    status: 503,
    error: "too many unverified request bodies are being read at once; try again shortly",
    retryAfterS: 5,
  };
}

function invalid(error: string): Refusal {
  return { status: 400, error };
}
