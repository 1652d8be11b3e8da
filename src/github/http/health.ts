/**
 * `GET /healthz`: the process answers (no dependency is checked, so a database or GitHub outage
 * never gets the App restarted). `GET /readyz`: 200 once the database, the queue and the hosts file
 * are loaded; before that, and from the moment a shutdown starts, 503 with the reason in JSON, so a
 * load balancer or an orchestrator sends nothing to an App that would refuse it.
 */
import type { ServerResponse } from "node:http";
import type { HttpRoute } from "./webhookServer.ts";

/** What must be loaded before the App is ready, in the order start-up loads them. */
export const READINESS_PARTS = ["database", "queue", "hosts"] as const;
export type ReadinessPart = (typeof READINESS_PARTS)[number];

export class Readiness {
  readonly #loaded = new Set<ReadinessPart>();
  #problem: string | undefined;
  #stopping = false;

  loaded(part: ReadinessPart): void {
    this.#loaded.add(part);
    if (this.#loaded.size === READINESS_PARTS.length) this.#problem = undefined;
  }

  /** Start-up met a problem it retries (a database that does not answer yet). */
  failing(reason: string): void {
    this.#problem = reason;
  }

  shuttingDown(): void {
    this.#stopping = true;
  }

  /** Undefined when ready, else why not. */
  reason(): string | undefined {
    if (this.#stopping) return "shutting down";
    const missing = READINESS_PARTS.filter((p) => !this.#loaded.has(p));
    if (missing.length === 0) return undefined;
    const waiting = `starting: waiting for ${missing.join(", ")}`;
    return this.#problem ? `${waiting} (${this.#problem})` : waiting;
  }
}

export function healthRoute(readiness: Readiness): HttpRoute {
  return {
    handle(req, res, path) {
      if (req.method !== "GET" && req.method !== "HEAD") return false;
      if (path === "/healthz") {
        json(res, 200, { status: "ok" });
        return true;
      }
      if (path === "/readyz") {
        const reason = readiness.reason();
        json(res, reason ? 503 : 200, reason ? { status: "not ready", reason } : { status: "ready" });
        return true;
      }
      return false;
    },
  };
}

function json(res: ServerResponse, status: number, body: Record<string, string>): void {
  res
    .writeHead(status, { "content-type": "application/json", "cache-control": "no-store" })
    .end(JSON.stringify(body));
}
