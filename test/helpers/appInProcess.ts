/**
 * The App's services and HTTP server in this process, wired as `npm start` wires them (pg-boss on
 * PGlite, the planner thread, the SSH pool), against the simulated GitHub Enterprise on the git
 * server's origin (fakeGitHub.ts). For tests and benchmarks that need the App's objects (its store)
 * besides its endpoints; appProcess.ts is the App as its own process, for tests that kill it.
 */
import { Probot, ProbotOctokit } from "probot";
import { githubHost } from "../../src/github/api/githubHost.ts";
import { createServices, parseEnv, type Services, startServer } from "../../src/github/server.ts";
import type { GitHttpServer } from "./gitHttpServer.ts";
import { deliverWebhook, testAppPrivateKey } from "./webhooks.ts";

const WEBHOOK_SECRET = "webhook-secret";

export interface AppInProcess {
  services: Services;
  server: Awaited<ReturnType<typeof startServer>>;
  /** A webhook delivery signed with the App's secret; the HTTP status. */
  deliver(event: string, payload: unknown, delivery: string): Promise<number>;
  close(): Promise<void>;
}

export async function startAppInProcess(opts: {
  git: Pick<GitHttpServer, "url">;
  dataDir: string;
  hostsFile: string;
  /** More of the App's environment (DATABASE_URL, ...). */
  env?: Record<string, string>;
}): Promise<AppInProcess> {
  const gheEnv = { GHE_HOST: new URL(opts.git.url).host, GHE_PROTOCOL: "http" };
  const services = await createServices(
    parseEnv({
      STACKPILOT_DATA_DIR: opts.dataDir,
      STACKPILOT_HOSTS_FILE: opts.hostsFile,
      STACKPILOT_APP_SLUG: "stackpilot",
      WEBHOOK_SECRET,
      ...gheEnv,
      ...opts.env,
    }),
  );
  const probot = new Probot({
    appId: 1,
    privateKey: testAppPrivateKey,
    secret: WEBHOOK_SECRET,
    baseUrl: githubHost(gheEnv).apiUrl,
    Octokit: ProbotOctokit.defaults((o: object) => ({
      ...o,
      retry: { enabled: false },
      throttle: { enabled: false },
    })),
  });
  const server = await startServer(services, { probot, secret: WEBHOOK_SECRET });
  return {
    services,
    server,
    deliver: (event, payload, delivery) =>
      deliverWebhook(server.port, WEBHOOK_SECRET, { event, payload, id: delivery }),
    async close() {
      await server.close();
      await services.stop();
    },
  };
}
