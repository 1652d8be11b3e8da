/**
 * Session cookies: a random 256-bit id in an HttpOnly, SameSite=Lax cookie (Lax: GitHub's
 * redirect back after sign-in is a cross-site navigation that must carry it), Secure when the
 * request came over https or the settings say so. The database holds only the id's SHA-256; the
 * CSRF token is an HMAC of the id, so it is never stored either.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import type { IncomingMessage } from "node:http";
import { parseCookie, type SetCookie, stringifySetCookie } from "cookie";
import { viaHttps } from "../http.ts";
import type { UiSettings } from "../settings.ts";
import type { SessionRef } from "./principal.ts";

/** Cookies of a Secure context get the `__Host-` prefix: no subdomain can set or shadow them. */
const NAMES = {
  session: { secure: "__Host-stackpilot-session", plain: "stackpilot-session" },
  oauth: { secure: "__Host-stackpilot-oauth", plain: "stackpilot-oauth" },
  login: { secure: "__Host-stackpilot-login", plain: "stackpilot-login" },
} as const;
export type CookieKind = keyof typeof NAMES;

export function secureCookies(req: IncomingMessage, settings: Pick<UiSettings, "cookieSecure">): boolean {
  if (settings.cookieSecure === "always") return true;
  if (settings.cookieSecure === "never") return false;
  return viaHttps(req);
}

export function readCookie(req: IncomingMessage, kind: CookieKind, secure: boolean): string | undefined {
  const header = req.headers.cookie;
  if (!header || header.length > 8192) return undefined;
  const value = parseCookie(header)[secure ? NAMES[kind].secure : NAMES[kind].plain];
  return value && value.length <= 512 ? value : undefined;
}

/** A Set-Cookie header; `maxAgeS: 0` clears the cookie. */
export function cookieHeader(kind: CookieKind, value: string, secure: boolean, maxAgeS: number): string {
  const cookie: SetCookie = {
    name: secure ? NAMES[kind].secure : NAMES[kind].plain,
    value,
    path: "/",
    httpOnly: true,
    sameSite: "lax",
    secure,
    maxAge: maxAgeS,
  };
  return stringifySetCookie(cookie);
}

export function newSecret(): string {
  return randomBytes(32).toString("base64url");
}

export function sessionRef(id: string): SessionRef {
  return {
    idHash: createHash("sha256").update(id).digest("hex"),
    csrf: createHmac("sha256", id).update("stackpilot csrf").digest("base64url"),
  };
}

/** Constant-time equality of two strings (compared as SHA-256 digests, so lengths leak nothing). */
export function sameSecret(a: string | undefined, b: string | undefined): boolean {
  if (a === undefined || b === undefined) return false;
  const digest = (s: string) => createHash("sha256").update(s).digest();
  return timingSafeEqual(digest(a), digest(b));
}
