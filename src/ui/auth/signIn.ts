/**
 * Signing in and out. GitHub: 1. `/ui/auth/github` sets a short-lived cookie with a random state
 * and sends the browser to GitHub's authorize page with that state, 2. GitHub sends it back to
 * `/ui/auth/callback` with a code: the state must equal the cookie's (so a sign-in started
 * elsewhere cannot complete here), the code is exchanged for the user's token (server to
 * GitHub), GitHub lists what the user can read, and a session starts. Token: the login form
 * posts the token with a double-submit CSRF value; a right token starts a session.
 */
import type { ServerResponse } from "node:http";
import type { Authed, Request } from "../context.ts";
import { HttpError, localPath, param, readForm, redirect, sendHtml } from "../http.ts";
import { renderPage } from "../render.ts";
import { type AuthDeps, tokenLogin } from "./authenticate.ts";
import { checkCsrf, refuseCrossSite } from "./csrf.ts";
import { authorizeUrl, exchangeCode, readableRepos } from "./githubUser.ts";
import { cookieHeader, newSecret, readCookie, sameSecret, secureCookies, sessionRef } from "./sessions.ts";

/** A sign-in at GitHub must come back within this long. */
const OAUTH_TTL_S = 600;

/** The sign-in page; `status` 401 when it answers a request for data. */
export function loginPage(r: Request, status = 200, message?: string): void {
  const secure = secureCookies(r.req, r.deps.settings);
  const csrf = readCookie(r.req, "login", secure) ?? newSecret();
  const next = localPath(
    r.url.pathname === "/ui/login" ? param(r.url.searchParams, "next") : r.url.pathname + r.url.search,
  );
  const html = renderPage(
    "login",
    { github: !!r.deps.settings.oauth, token: !!r.deps.settings.token, next, csrf, message },
    { title: "Sign in" },
  );
  sendHtml(r.res, status, html, {
    "set-cookie": cookieHeader("login", csrf, secure, OAUTH_TTL_S),
    ...(status === 401 ? { "www-authenticate": 'Bearer realm="stackpilot"' } : {}),
  });
}

export function startGitHubSignIn(r: Request): void {
  const oauth = r.deps.settings.oauth;
  if (!oauth) throw new HttpError(404, "GitHub sign-in is not configured");
  const state = newSecret();
  const next = localPath(param(r.url.searchParams, "next"));
  const secure = secureCookies(r.req, r.deps.settings);
  const cookie = `${state}.${Buffer.from(next).toString("base64url")}`;
  r.res.writeHead(302, {
    location: authorizeUrl(r.deps.settings.github, oauth, state),
    "set-cookie": cookieHeader("oauth", cookie, secure, OAUTH_TTL_S),
    "cache-control": "no-store",
    "referrer-policy": "no-referrer",
  });
  r.res.end();
}

export async function finishGitHubSignIn(r: Request, auth: AuthDeps): Promise<void> {
  const oauth = r.deps.settings.oauth;
  if (!oauth) throw new HttpError(404, "GitHub sign-in is not configured");
  const secure = secureCookies(r.req, r.deps.settings);
  const [state, nextB64] = (readCookie(r.req, "oauth", secure) ?? "").split(".");
  const q = r.url.searchParams;
  if (!state || !sameSecret(param(q, "state"), state))
    throw new HttpError(400, "this sign-in did not start here or took too long: sign in again");
  const denied = param(q, "error");
  if (denied) throw new HttpError(403, `GitHub did not sign you in (${denied})`);
  const code = param(q, "code");
  if (!code || !/^[A-Za-z0-9_-]{1,128}$/.test(code)) throw new HttpError(400, "GitHub sent no usable code");

  let user: Awaited<ReturnType<typeof exchangeCode>>;
  let repos: Awaited<ReturnType<typeof readableRepos>>;
  try {
    user = await exchangeCode(r.deps.settings.github, oauth, code);
    repos = await readableRepos(r.deps.settings.github, user.token);
  } catch (err) {
    throw new HttpError(502, `GitHub refused the sign-in: ${(err as Error).message}`);
  }
  const id = newSecret();
  const ref = sessionRef(id);
  const ttlMs = Math.min(
    r.deps.settings.sessionTtlMs,
    user.expiresAt ? user.expiresAt.getTime() - Date.now() : r.deps.settings.sessionTtlMs,
  );
  await r.deps.store.createSession({ idHash: ref.idHash, kind: "github", login: user.login, repos, ttlMs });
  auth.tokens.set(ref.idHash, user.token, Date.now() + ttlMs);
  startSession(
    r.res,
    id,
    secure,
    ttlMs,
    localPath(Buffer.from(nextB64 ?? "", "base64url").toString("utf8")),
    "oauth",
  );
}

export async function tokenSignIn(r: Request): Promise<void> {
  const token = r.deps.settings.token;
  if (!token) throw new HttpError(404, "token sign-in is not configured");
  refuseCrossSite(r.req);
  const form = await readForm(r.req);
  const secure = secureCookies(r.req, r.deps.settings);
  if (!sameSecret(form.get("csrf") ?? undefined, readCookie(r.req, "login", secure)))
    throw new HttpError(403, "the sign-in form expired: reload the page and try again");
  if (!sameSecret(form.get("token") ?? undefined, token.value))
    return loginPage(r, 401, "That token is not valid.");
  const id = newSecret();
  const ttlMs = r.deps.settings.sessionTtlMs;
  await r.deps.store.createSession({
    idHash: sessionRef(id).idHash,
    kind: "token",
    login: tokenLogin(token.value),
    ttlMs,
  });
  startSession(r.res, id, secure, ttlMs, localPath(param(form, "next")), "login");
}

export async function signOut(r: Authed, auth: AuthDeps): Promise<void> {
  const form = await readForm(r.req);
  checkCsrf(r.req, form, r.principal);
  const secure = secureCookies(r.req, r.deps.settings);
  if (r.principal.session) {
    await r.deps.store.deleteSession(r.principal.session.idHash);
    auth.tokens.delete(r.principal.session.idHash);
  }
  redirect(r.res, "/ui/login", { "set-cookie": cookieHeader("session", "", secure, 0) });
}

function startSession(
  res: ServerResponse,
  id: string,
  secure: boolean,
  ttlMs: number,
  next: string,
  spent: "oauth" | "login",
): void {
  redirect(res, next, {
    "set-cookie": [
      cookieHeader("session", id, secure, Math.floor(ttlMs / 1000)),
      cookieHeader(spent, "", secure, 0),
    ],
  });
}
