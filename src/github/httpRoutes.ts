/**
 * The endpoints besides the webhook (each in http/ or src/ui), in the order they are tried:
 * health, metrics, triggers, the runs API, the web UI.
 */
import type { Probot } from "probot";
import type { TriggerConfig } from "../config/triggers.ts";
import type { MirrorCache } from "../git/mirror.ts";
import type { StackpilotMetrics } from "../metrics/metrics.ts";
import type { Store } from "../state/store.ts";
import { createUi } from "../ui/router.ts";
import { uiSettings } from "../ui/settings.ts";
import { githubHost } from "./api/githubHost.ts";
import { botAllowlist, type StackpilotEnv } from "./env.ts";
import { healthRoute, type Readiness } from "./http/health.ts";
import { metricsRoute } from "./http/metrics.ts";
import { runsApiRoute } from "./http/runsApi.ts";
import { triggerRoute } from "./http/triggers.ts";
import type { HttpRoute } from "./http/webhookServer.ts";
import type { Octokit } from "./jobs/jobContext.ts";
import type { ProcedureQueue } from "./jobs/procedureQueue.ts";

export interface RouteParts {
  store: Store;
  readiness: Readiness;
  metrics: StackpilotMetrics;
  procedureJobs: ProcedureQueue;
  triggers: TriggerConfig[];
  mirrors: MirrorCache;
  /** The App once Probot has loaded it: the UI acts as an installation through it. */
  loaded: () => Probot | undefined;
}

export function httpRoutes(env: StackpilotEnv, parts: RouteParts): HttpRoute[] {
  const { store, metrics, triggers } = parts;
  // Health and metrics first: the UI's routes never shadow them.
  return [
    healthRoute(parts.readiness),
    metricsRoute(metrics, { token: env.STACKPILOT_METRICS_TOKEN }),
    triggerRoute({
      triggers,
      store,
      queue: parts.procedureJobs,
      ...(env.STACKPILOT_PUBLIC_URL ? { publicUrl: env.STACKPILOT_PUBLIC_URL } : {}),
      log: { error: (m) => console.error(`stackpilot: ${m}`) },
      onAnswer: (trigger, status) => metrics.triggerRequest(trigger, status),
    }),
    runsApiRoute({ store, triggers, apiToken: env.STACKPILOT_API_TOKEN }),
    webUi(env, parts),
  ];
}

/** The web UI, logging through the App once it is loaded (errors always, to stderr). */
function webUi(env: StackpilotEnv, { store, mirrors, loaded }: RouteParts): HttpRoute {
  return createUi({
    store,
    settings: uiSettings(env, githubHost(env)),
    installation: async (id) => {
      const app = loaded();
      if (!app) throw new Error("the App is not loaded yet");
      return (await app.auth(id)) as Octokit;
    },
    mirrors,
    botAllowlist: botAllowlist(env),
    log: {
      info: (m) => loaded()?.log.info(m),
      warn: (m) => loaded()?.log.warn(m),
      error: (m) => console.error(m),
    },
  });
}
