/**
 * `GET /metrics`: the Prometheus exposition of the App's metrics (metrics/metrics.ts). With
 * `STACKPILOT_METRICS_TOKEN` set, a scrape must send `Authorization: Bearer <token>` (compared in
 * constant time); without it, anyone who reaches the port may read the metrics, which name stacks
 * and hosts.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import type { StackpilotMetrics } from "../../metrics/metrics.ts";
import type { HttpRoute } from "./webhookServer.ts";

export const METRICS_PATH = "/metrics";

export function metricsRoute(
  metrics: StackpilotMetrics,
  opts: { token?: string | undefined } = {},
): HttpRoute {
  // Digests, so that the comparison takes the same time whatever the length of what was sent.
  const expected = opts.token ? digest(`Bearer ${opts.token}`) : undefined;
  return {
    async handle(req, res, path) {
      if (path !== METRICS_PATH || (req.method !== "GET" && req.method !== "HEAD")) return false;
      if (expected && !timingSafeEqual(digest(req.headers.authorization ?? ""), expected)) {
        res
          .writeHead(401, {
            "content-type": "application/json",
            "www-authenticate": 'Bearer realm="metrics"',
          })
          .end(JSON.stringify({ error: "a bearer token is required" }));
        return true;
      }
      const { contentType, body } = await metrics.exposition();
      res.writeHead(200, { "content-type": contentType, "cache-control": "no-store" }).end(body);
      return true;
    },
  };
}

function digest(text: string): Buffer {
  return createHash("sha256").update(text).digest();
}
