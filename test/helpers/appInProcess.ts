import { githubHost } from "../../src/github/api/githubHost.ts";
import { createServices, parseEnv, type Services, startServer } from "../../src/github/server.ts";
import type { GitHttpServer } from "./gitHttpServer.ts";
import { testProbot } from "./probot.ts";
import { deliverWebhook } from "./webhooks.ts";

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
  const probot = testProbot({ secret: WEBHOOK_SECRET, baseUrl: githubHost(gheEnv).apiUrl });
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
