/**
 * Sending one message to one channel: its secrets read now (a rotated secret is used at once,
 * and none is kept), the request rendered (channels.ts), POSTed within a time limit, redirects not
 * followed (a signed body goes only where it was configured to), the answer's body not read.
 * A webhook URL is a credential: errors say which channel failed, never where it points.
 */
import type { NotificationChannel } from "../config/notifications.ts";
import { readSecret } from "../config/secretRef.ts";
import { MAX_BODY_BYTES, renderRequest } from "./channels.ts";
import type { Message } from "./message.ts";

export const DELIVERY_TIMEOUT_MS = 10_000;

export class DeliveryError extends Error {
  override name = "DeliveryError";
  /** Trying again cannot help (a 4xx other than 408/429, a malformed URL): not retried. */
  readonly permanent: boolean;
  constructor(message: string, permanent: boolean) {
    super(message);
    this.permanent = permanent;
  }
}

export interface DeliverOptions {
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
  fetch?: typeof fetch;
}

export async function deliver(
  channel: NotificationChannel,
  message: Message,
  opts: DeliverOptions = {},
): Promise<void> {
  const what = `notification channel ${channel.name}`;
  const url =
    typeof channel.url === "string" ? channel.url : await readSecret(channel.url, `${what}: url`, opts.env);
  const secret =
    channel.type === "webhook" ? await readSecret(channel.secret, `${what}: secret`, opts.env) : undefined;
  let target: URL;
  try {
    target = new URL(url);
    if (target.protocol !== "https:" && target.protocol !== "http:") throw new Error("not http(s)");
  } catch {
    throw new DeliveryError(`${what}: its url is not an http(s) URL`, true);
  }
  const request = renderRequest(channel.type, message, secret);
  if (Buffer.byteLength(request.body) > MAX_BODY_BYTES)
    throw new DeliveryError(`${what}: the message is over ${MAX_BODY_BYTES} bytes`, true);
  const redact = urlRedactor(url);
  let status: number;
  try {
    const res = await (opts.fetch ?? fetch)(target, {
      method: "POST",
      body: request.body,
      headers: request.headers,
      redirect: "manual",
      signal: AbortSignal.timeout(opts.timeoutMs ?? DELIVERY_TIMEOUT_MS),
    });
    status = res.status;
    await res.body?.cancel().catch(() => {});
  } catch (err) {
    const cause = (err as { cause?: { message?: string } }).cause?.message;
    const why =
      err instanceof Error && err.name === "TimeoutError"
        ? "no answer in time"
        : (cause ?? (err as Error).message);
    throw new DeliveryError(`${what}: ${redact(String(why))}`, false);
  }
  if (status >= 200 && status < 300) return;
  // A redirect is not followed (manual): the URL is wrong, like a 4xx says.
  const retry = status === 408 || status === 429 || status >= 500;
  throw new DeliveryError(`${what}: answered HTTP ${status}`, !retry);
}

/** Replaces a URL, its path and query wherever they appear: a webhook URL is a credential. */
export function urlRedactor(url: string): (text: string) => string {
  const secrets = [url];
  try {
    const u = new URL(url);
    secrets.push(u.href);
    if (u.pathname.length > 1) secrets.push(u.pathname);
    if (u.search) secrets.push(u.search);
  } catch {
    // Not a URL: the whole string is redacted.
  }
  const live = [...new Set(secrets)].filter((s) => s.length >= 4).sort((a, b) => b.length - a.length);
  return (text) => live.reduce((t, s) => t.split(s).join("***"), text);
}
