/**
 * The web UI on the App's HTTP server (an HttpRoute, listed in github/server.ts): it claims
 * every path under /ui. Each request: 1. the URL, bounded (414), 2. static files and the
 * sign-in routes, which show no data, 3. the principal (bearer token or session cookie); none is
 * a 401 with the sign-in page, 4. the page or action, which checks the principal may read (and,
 * for a write, may act on) what it touches.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { HttpRoute } from "../github/http/webhookServer.ts";
import type { ReadableRepo } from "../state/sessions.ts";
import { type AuthDeps, authenticate, UserTokens } from "./auth/authenticate.ts";
import { finishGitHubSignIn, loginPage, signOut, startGitHubSignIn, tokenSignIn } from "./auth/signIn.ts";
import type { Authed, Request, UiDeps } from "./context.ts";
import { HttpError, localPath, redirect, requestUrl, sendHtml, sendText } from "./http.ts";
import { LiveStreams } from "./live.ts";
import { commitPage } from "./pages/commitPage.ts";
import { deploymentPage } from "./pages/deploymentPage.ts";
import { deploymentsPage } from "./pages/deploymentsPage.ts";
import { locksPage, unlock } from "./pages/locksPage.ts";
import { matrixPage } from "./pages/matrixPage.ts";
import { runPage, runsPage } from "./pages/runsPage.ts";
import { renderPage } from "./render.ts";
import { serveStatic } from "./static.ts";

export const UI_PATH = "/ui";

export interface UiRoute extends HttpRoute {
  /** Ends open live streams (the server is stopping). */
  close(): void;
}

export function createUi(deps: UiDeps): UiRoute {
  const auth: AuthDeps = { store: deps.store, settings: deps.settings, tokens: new UserTokens() };
  const refreshing = new Map<string, Promise<ReadableRepo[] | "reauth">>();
  const live = new LiveStreams(deps.live);
  return {
    async handle(req, res, path) {
      if (path !== UI_PATH && !path.startsWith(`${UI_PATH}/`)) return false;
      try {
        await dispatch({ req, res, url: requestUrl(req), deps }, auth, refreshing, live);
      } catch (err) {
        failed(req, res, deps, err);
      }
      return true;
    },
    close: () => live.closeAll(),
  };
}

async function dispatch(
  r: Request,
  auth: AuthDeps,
  refreshing: Map<string, Promise<ReadableRepo[] | "reauth">>,
  live: LiveStreams,
): Promise<void> {
  const path = r.url.pathname;
  const method = r.req.method ?? "GET";
  if (path.startsWith("/ui/static/")) {
    if (method !== "GET" || !serveStatic(path, r.res, r.req.headers["if-none-match"]))
      throw new HttpError(404, "not found");
    return;
  }
  const open: Record<string, () => Promise<void> | void> = {
    "GET /ui/login": () => loginPage(r),
    "GET /ui/auth/github": () => startGitHubSignIn(r),
    "GET /ui/auth/callback": () => finishGitHubSignIn(r, auth),
    "POST /ui/auth/token": () => tokenSignIn(r),
  };
  const openRoute = open[`${method} ${path}`];
  if (openRoute) return openRoute();

  const principal = await authenticate(r.req, auth, refreshing);
  if (principal === "reauth" && method === "GET" && r.deps.settings.oauth)
    return redirect(r.res, `/ui/auth/github?next=${encodeURIComponent(localPath(path + r.url.search))}`);
  if (principal === undefined || principal === "reauth") return loginPage(r, 401);
  const a: Authed = { ...r, principal };

  const deployment = /^\/ui\/deployments\/(\d{1,15})(\/events)?$/.exec(path);
  const run = /^\/ui\/runs\/(\d{1,15})$/.exec(path);
  const commit = /^\/ui\/c\/(\d{1,15})$/.exec(path);
  if (method === "GET") {
    if (path === "/ui" || path === "/ui/") return matrixPage(a);
    if (path === "/ui/deployments") return deploymentsPage(a);
    if (path === "/ui/locks") return locksPage(a);
    if (path === "/ui/runs") return runsPage(a);
    if (run) return runPage(a, Number(run[1]));
    if (commit) return commitPage(a, Number(commit[1]));
    if (deployment)
      return deployment[2] ? live.stream(a, Number(deployment[1])) : deploymentPage(a, Number(deployment[1]));
  }
  if (method === "POST") {
    if (path === "/ui/locks/unlock") return unlock(a);
    if (path === "/ui/auth/signout") return signOut(a, auth);
  }
  throw new HttpError(404, "not found");
}

/** An HttpError is the user's answer; anything else is ours: logged, and a 500 without details. */
function failed(req: IncomingMessage, res: ServerResponse, deps: UiDeps, err: unknown): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  const known = err instanceof HttpError;
  if (!known)
    deps.log.error(
      `ui: ${req.method} ${(req.url ?? "").slice(0, 200)} failed: ${(err as Error).stack ?? err}`,
    );
  const status = known ? err.status : 500;
  const text = known ? err.message : "Something went wrong on the server; it is logged.";
  if (!(req.headers.accept ?? "").includes("text/html")) {
    sendText(res, status, text);
    return;
  }
  const html = renderPage(
    "message",
    { heading: `Error ${status}`, text, back: "/ui" },
    { title: `Error ${status}` },
  );
  sendHtml(res, status, html);
}
