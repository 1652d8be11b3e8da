/**
 * `npm start`: the GitHub App with embedded defaults.
 * 1. read and check the environment, 2. open the state store (PGlite under the data dir, or
 * DATABASE_URL), 3. start the shared queue, 4. run Probot with the app (webhooks -> queue) and
 * its worker (queue -> plans, deploys). Without APP_ID/PRIVATE_KEY, Probot serves its
 * registration flow from app.yml instead.
 */
import { mkdirSync } from "node:fs";
import { run } from "probot";
import { z } from "zod";
import { startBoss } from "../state/boss.ts";
import { openStore } from "../state/store.ts";
import { stackpilotApp } from "./app.ts";
import { createJobQueue } from "./jobQueue.ts";

const Env = z.object({
  NODE_ENV: z.string().optional(),
  WEBHOOK_SECRET: z.string().min(1).optional(),
  DATABASE_URL: z.string().optional(),
  STACKPILOT_DATA_DIR: z.string().default(".stackpilot"),
  STACKPILOT_HOSTS_FILE: z.string().optional(),
  APP_ID: z.string().optional(),
});

export async function start(env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const config = Env.parse(env);
  if (config.NODE_ENV === "production" && !config.WEBHOOK_SECRET) {
    throw new Error("WEBHOOK_SECRET is required in production: unsigned webhooks would be accepted");
  }
  mkdirSync(config.STACKPILOT_DATA_DIR, { recursive: true });
  const store = await openStore({
    dataDir: config.STACKPILOT_DATA_DIR,
    ...(config.DATABASE_URL ? { databaseUrl: config.DATABASE_URL } : {}),
  });
  const boss = await startBoss(store);
  const jobs = await createJobQueue(boss);
  await run(stackpilotApp({ store, enqueue: (job, deliveryId) => jobs.send(job, deliveryId) }));
}

if (import.meta.url === `file://${process.argv[1]}`) {
  start().catch((err: unknown) => {
    console.error(`stackpilot: ${(err as Error).message}`);
    process.exit(1);
  });
}
