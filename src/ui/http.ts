/**
 * The UI's HTTP edges: bounded request input (URL, query parameters, form bodies) and responses
 * that carry the UI's security headers. Every page goes out through `sendHtml`.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { globProblem } from "../util/glob.ts";
import { chooseEncoding, type Encoding, encode } from "./compress.ts";

/** Longer request targets are refused with 414 before anything else is looked at. */
export const MAX_URL_BYTES = 2048;
/** A form is a few short fields (a CSRF token, a repository, a stack, a host, a token). */
export const MAX_FORM_BYTES = 8 * 1024;
/** Query and form values: stack and host globs, repository names, paths to return to. */
export const MAX_VALUE_CHARS = 256;

/**
 * A Content-Security-Policy that allows only this server's own stylesheet, script and
 * EventSource: even a string that escaped escaping could run nothing and load nothing.
 */
const SECURITY_HEADERS = {
  "content-security-policy":
    "default-src 'none'; style-src 'self'; script-src 'self'; connect-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  "x-content-type-options": "nosniff",
  "x-frame-options": "DENY",
  // Links to GitHub carry no address of ours (deployment ids, filters).
  "referrer-policy": "no-referrer",
} as const;

/** A request refused with a status and a sentence for the user. */
export class HttpError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.name = "HttpError";
    this.status = status;
  }
}

/**
 * A page, compressed when the client accepts it (compress.ts). The compression runs off the event
 * loop: the response is ended a moment after this returns; nothing may be written to it after.
 */
export function sendHtml(
  res: ServerResponse,
  status: number,
  html: string,
  headers: Record<string, string | string[]> = {},
): void {
  const body = Buffer.from(html);
  const send = (out: Buffer, encoding: Encoding) => {
    res.writeHead(status, {
      ...SECURITY_HEADERS,
      "content-type": "text/html; charset=utf-8",
      "cache-control": "no-store",
      vary: "Accept-Encoding",
      ...(encoding === "identity" ? {} : { "content-encoding": encoding }),
      "content-length": String(out.length),
      ...headers,
    });
    res.end(out);
  };
  const encoding = chooseEncoding(res.req.headers, body.length);
  if (encoding === "identity") send(body, encoding);
  else
    encode(body, encoding).then(
      (out) => send(out, encoding),
      () => send(body, "identity"),
    );
}

export function sendText(
  res: ServerResponse,
  status: number,
  text: string,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, {
    ...SECURITY_HEADERS,
    "content-type": "text/plain; charset=utf-8",
    "cache-control": "no-store",
    ...headers,
  });
  res.end(`${text}\n`);
}

/** 303 to a path of ours or a URL we built (never one from the request: see `localPath`). */
export function redirect(
  res: ServerResponse,
  location: string,
  headers: Record<string, string | string[]> = {},
): void {
  res.writeHead(303, { ...SECURITY_HEADERS, location, "cache-control": "no-store", ...headers });
  res.end();
}

/** The request's URL, or an HttpError (414) when it is too long to be one of ours. */
export function requestUrl(req: IncomingMessage): URL {
  const raw = req.url ?? "/";
  if (Buffer.byteLength(raw) > MAX_URL_BYTES) throw new HttpError(414, "request URL too long");
  try {
    return new URL(raw, "http://stackpilot.invalid");
  } catch {
    throw new HttpError(400, "malformed request URL");
  }
}

/** A query or form value within MAX_VALUE_CHARS, or undefined when absent or empty. */
export function param(params: URLSearchParams, name: string): string | undefined {
  const all = params.getAll(name);
  if (all.length > 1) throw new HttpError(400, `${name} is given more than once`);
  const value = all[0];
  if (value === undefined || value === "") return undefined;
  if (value.length > MAX_VALUE_CHARS)
    throw new HttpError(400, `${name} is longer than ${MAX_VALUE_CHARS} characters`);
  return value;
}

/** A glob filter from the query, validated by the one glob matcher (util/glob.ts). */
export function globParam(params: URLSearchParams, name: string): string | undefined {
  const value = param(params, name);
  if (value === undefined) return undefined;
  const problem = globProblem(value);
  if (problem) throw new HttpError(400, `${name}: ${problem}`);
  return value;
}

/**
 * A path under /ui to return to after signing in; anything else (another origin, `//host`,
 * backslashes) becomes /ui, so the parameter can never send a browser elsewhere.
 */
export function localPath(value: string | undefined): string {
  if (!value || !/^\/ui(?:[/?#]|$)/.test(value) || /[\\\s]/.test(value)) return "/ui";
  return value;
}

/**
 * A urlencoded form body, bounded (413 past MAX_FORM_BYTES, 415 for anything but a form). The
 * server's request timeout bounds how long it may take to arrive.
 */
export async function readForm(req: IncomingMessage): Promise<URLSearchParams> {
  const type = (req.headers["content-type"] ?? "").split(";")[0]?.trim().toLowerCase();
  if (type !== "application/x-www-form-urlencoded") throw new HttpError(415, "expected a form");
  const declared = Number(req.headers["content-length"] ?? "0");
  if (declared > MAX_FORM_BYTES) throw new HttpError(413, "form too large");
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_FORM_BYTES) throw new HttpError(413, "form too large");
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString("utf8"));
}

/** Whether the request came over TLS (directly, or as a proxy in front of us says). */
export function viaHttps(req: IncomingMessage): boolean {
  if ((req.socket as { encrypted?: boolean }).encrypted) return true;
  const forwarded = req.headers["x-forwarded-proto"];
  const first = (Array.isArray(forwarded) ? forwarded[0] : forwarded)?.split(",")[0]?.trim();
  return first === "https";
}
