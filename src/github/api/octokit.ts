/**
 * How the app's Octokit retries GitHub. Probot's Octokit carries two plugins:
 * - plugin-retry: 5xx (and any status but 400/401/403/404/410/422/451) retried 3 times, waiting
 *   1, 4, 9 s (retryAfterBaseValue x n²);
 * - plugin-throttling: paces writes (1 per second, comments 1 per 3 s, as GitHub asks) and calls
 *   a handler on a rate limit (403/429 with `retry-after`, or "secondary rate limit" in the
 *   message), retrying after `retry-after` seconds when it returns true.
 * Probot's own handlers retry a primary rate limit twice but never a secondary one, so one
 * "You have exceeded a secondary rate limit" failed the whole job (a check run left in progress,
 * a deploy reported as failed). These handlers retry both a bounded number of times, and only
 * when the wait is short: a longer one fails the request, and the job queue retries the job
 * later instead of a worker sleeping on it.
 */
import { ProbotOctokit } from "probot";

export interface RetryPolicy {
  /** Retries of one request after a secondary rate limit. */
  secondaryRetries: number;
  /** Retries of one request after a primary rate limit (quota exhausted until a reset time). */
  primaryRetries: number;
  /** Longest `retry-after` (seconds) worth waiting for inside a job. */
  maxWaitSeconds: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = {
  secondaryRetries: 3,
  primaryRetries: 2,
  maxWaitSeconds: 120,
};

interface Logger {
  warn(msg: string): void;
}
type Handler = (
  retryAfter: number,
  options: { method: string; url: string },
  octokit: { log: Logger },
  retryCount: number,
) => boolean;

/** The throttling plugin's handlers for a policy. */
export function rateLimitHandlers(policy: RetryPolicy = DEFAULT_RETRY_POLICY): {
  onSecondaryRateLimit: Handler;
  onRateLimit: Handler;
} {
  const decide =
    (kind: string, retries: number): Handler =>
    (retryAfter, options, octokit, retryCount) => {
      const retry = retryCount < retries && retryAfter <= policy.maxWaitSeconds;
      octokit.log.warn(
        `${kind} rate limit on ${options.method} ${options.url} (attempt ${retryCount + 1}): ${
          retry ? `retrying in ${retryAfter} s` : "giving up; the job is retried later"
        }`,
      );
      return retry;
    };
  return {
    onSecondaryRateLimit: decide("secondary", policy.secondaryRetries),
    onRateLimit: decide("primary", policy.primaryRetries),
  };
}

/**
 * Octokit options with the handlers put over whatever throttle options Probot set (its Redis
 * connection for clustering stays). `extra` is for tests: shorter waits, no pacing.
 */
export function withRetryPolicy(
  options: { throttle?: object; retry?: object },
  policy: RetryPolicy = DEFAULT_RETRY_POLICY,
  extra: { throttle?: object; retry?: object } = {},
): object {
  return {
    ...options,
    throttle: { ...options.throttle, ...rateLimitHandlers(policy), ...extra.throttle },
    retry: { ...options.retry, ...extra.retry },
  };
}

/** Probot's Octokit with the retry policy; pass as `Octokit` to Probot. */
export const StackpilotOctokit = ProbotOctokit.defaults((options: { throttle?: object; retry?: object }) =>
  withRetryPolicy(options),
);
