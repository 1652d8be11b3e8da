/**
 * What a job's error means and what the user is told. Permanent errors (a clone URL Stackpilot
 * refuses, a repository or commit that is gone, GitHub refusing a request for good) are reported
 * at once and not retried: a retry could never succeed. Transient ones (network, 5xx, rate limits,
 * a busy target) are retried by the queue, and reported only when the last attempt fails too.
 * Users read a short reason; the operator's log has the whole error, with the delivery id the
 * user's message names.
 */
import { ProblemsError } from "../../config/problems.ts";
import { errorText } from "../../deploy/hostDeploy.ts";
import { MirrorError } from "../../git/mirror.ts";
import { PayloadError } from "../payloads.ts";

/** An error no retry can fix; throw it where that is known. */
export class PermanentError extends Error {
  override name = "PermanentError";
}

/** GitHub answers that stay the same however often the request is made. */
const PERMANENT_STATUSES = new Set([400, 401, 404, 410, 422]);

export function isPermanent(err: unknown): boolean {
  if (err instanceof PermanentError || err instanceof PayloadError || err instanceof ProblemsError)
    return true;
  if (err instanceof MirrorError)
    return err.kind === "invalid" || err.kind === "not-found" || err.kind === "ref-not-found";
  const status = (err as { status?: unknown })?.status;
  if (typeof status === "number") {
    // A 403 is permanent unless it is a rate limit (those carry retry information).
    if (status === 403) return !/rate limit/i.test(errorText(err));
    return PERMANENT_STATUSES.has(status);
  }
  return false;
}

/** Errors whose message is written for users (and free of secrets): they may be shown as they are. */
function isUserFacing(err: unknown): boolean {
  if (err instanceof PermanentError || err instanceof MirrorError || err instanceof ProblemsError)
    return true;
  return typeof (err as { status?: unknown })?.status === "number";
}

/**
 * The reason shown on GitHub: the error's own words when they are meant for users, else that an
 * internal error happened and where to read about it. Never more than a few lines.
 */
export function shortReason(err: unknown, delivery: string): string {
  if (!isUserFacing(err))
    return `an internal error (delivery ${delivery}); the Stackpilot server's log has the details`;
  const text = errorText(err).trim().split("\n").slice(0, 5).join("\n");
  return text.length > 500 ? `${text.slice(0, 500)}…` : text;
}
