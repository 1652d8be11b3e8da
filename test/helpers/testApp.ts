/**
 * The Stackpilot App loaded into a Probot for the GitHub flow tests (driven with
 * `probot.receive`): a job runs as soon as it is queued (the durable queue is exercised in
 * test/state), and each run is handed to the test to await.
 */
import { Probot, type ProbotOctokit } from "probot";
import { stackpilotApp } from "../../src/github/app.ts";
import type { GithubJob } from "../../src/github/events.ts";
import type { WorkerDeps } from "../../src/github/jobs/jobContext.ts";
import { createWorker } from "../../src/github/jobs/worker.ts";
import { testAppPrivateKey } from "./webhooks.ts";

export async function loadTestApp(opts: {
  Octokit: typeof ProbotOctokit;
  /** The worker's dependencies (the store also records deliveries). */
  deps: WorkerDeps;
  /** Each queued job's run. */
  onJob: (running: Promise<void>) => void;
  /** Called with the app before the worker starts, e.g. to watch its log. */
  onLoad?: (app: Probot) => void;
  /** The REST API's base URL, for GitHub Enterprise (default `https://api.github.com`). */
  baseUrl?: string;
}): Promise<Probot> {
  const probot = new Probot({
    appId: 1,
    privateKey: testAppPrivateKey,
    Octokit: opts.Octokit,
    ...(opts.baseUrl ? { baseUrl: opts.baseUrl } : {}),
  });
  let handle: ((job: GithubJob) => Promise<void>) | undefined;
  await probot.load(
    stackpilotApp({
      store: opts.deps.store,
      enqueue: async (job) => {
        opts.onJob((handle as (j: GithubJob) => Promise<void>)(job));
      },
      onLoad: async (app) => {
        opts.onLoad?.(app);
        // Jobs a job queues (a source's push plans its users) run at once too.
        opts.deps.enqueue ??= async (job) => {
          opts.onJob((handle as (j: GithubJob) => Promise<void>)(job));
        };
        handle = createWorker(opts.deps, app);
      },
    }),
  );
  return probot;
}
