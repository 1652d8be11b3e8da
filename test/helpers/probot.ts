/** The Probot instance tests start the App's server with: the test App key, no Octokit retries. */
import { Probot, ProbotOctokit } from "probot";
import { testAppPrivateKey } from "./webhooks.ts";

/**
 * Retries and throttling off: the simulated GitHub answers at once, and a test that expects an
 * error must not wait out Octokit's backoff.
 */
export function testProbot(opts: {
  secret: string;
  /** The REST API's base URL (GitHub Enterprise in the e2e tests). */
  baseUrl: string;
  privateKey?: string;
  logLevel?: "trace" | "debug" | "info" | "warn" | "error" | "fatal";
}): Probot {
  return new Probot({
    appId: 1,
    privateKey: opts.privateKey ?? testAppPrivateKey,
    secret: opts.secret,
    baseUrl: opts.baseUrl,
    ...(opts.logLevel ? { logLevel: opts.logLevel } : {}),
    Octokit: ProbotOctokit.defaults((o: object) => ({
      ...o,
      retry: { enabled: false },
      throttle: { enabled: false },
    })),
  });
}
