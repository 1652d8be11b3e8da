/**
 * The App's services (state and queue, no worker) on one of the test backends, served over real
 * HTTP on loopback as `npm start` serves them: the webhook endpoint and every route (health,
 * metrics). GitHub stays unreachable (nock.disableNetConnect, loopback allowed).
 */
import nock from "nock";
import { Probot } from "probot";
import { createServices, parseEnv, type Services, startServer } from "../../src/github/server.ts";
import type { StateBackend } from "./stateBackends.ts";
import { testAppPrivateKey } from "./webhooks.ts";

export interface ServedApp {
  services: Services;
  /** `http://127.0.0.1:<port>` */
  base: string;
  port: number;
  close(): Promise<void>;
}

export async function serveApp(
  backend: StateBackend,
  env: { WEBHOOK_SECRET: string } & Record<string, string>,
): Promise<ServedApp> {
  nock.disableNetConnect();
  nock.enableNetConnect("127.0.0.1");
  const location = await backend.newDatabase();
  const services = await createServices(
    parseEnv({
      STACKPILOT_DATA_DIR: location.dataDir,
      ...(location.databaseUrl ? { DATABASE_URL: location.databaseUrl } : {}),
      ...env,
    }),
    { worker: false },
  );
  const server = await startServer(services, {
    probot: new Probot({ appId: 1, privateKey: testAppPrivateKey, secret: env.WEBHOOK_SECRET }),
    secret: env.WEBHOOK_SECRET,
  });
  return {
    services,
    port: server.port,
    base: `http://127.0.0.1:${server.port}`,
    async close() {
      await server.close();
      await services.stop().catch(() => {});
      nock.enableNetConnect();
    },
  };
}
