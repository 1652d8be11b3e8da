/**
 * Every POST of the UI: refused when the browser says it comes from another site, and, for a
 * session, without the session's CSRF token (bearer requests carry no cookie, so need none).
 */
import type { IncomingMessage } from "node:http";
import { HttpError } from "../http.ts";
import type { Principal } from "./principal.ts";
import { sameSecret } from "./sessions.ts";

export function refuseCrossSite(req: IncomingMessage): void {
  if (req.headers["sec-fetch-site"] === "cross-site")
    throw new HttpError(403, "a form from another site cannot act here");
}

export function checkCsrf(req: IncomingMessage, form: URLSearchParams, principal: Principal): void {
  refuseCrossSite(req);
  if (!principal.session) return;
  if (!sameSecret(form.get("csrf") ?? undefined, principal.session.csrf))
    throw new HttpError(403, "the form's CSRF token is missing or wrong: reload the page and try again");
}
