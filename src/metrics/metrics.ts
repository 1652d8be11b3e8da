/**
 * The App's Prometheus metrics (prom-client), one registry per App: Node's process metrics plus
 * Stackpilot's own. Code reports through the small methods below; gauges that need the database
 * (queue jobs, locks) are read by `readFromDatabase`'s functions, cached, and never awaited by a
 * scrape (labels.ts `CachedReading`). Label values are names from the hosts file or repo config,
 * bounded per metric (labels.ts `SeriesCap`): never SHAs, never free text.
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";
import { CachedReading, SeriesCap } from "./labels.ts";

/** Series a metric may have; stack x host metrics of a big repository stop growing here. */
export const DEFAULT_MAX_SERIES = 2_000;

/** What drift detection found for a (stack, host): the gauge's value is the index. */
export const DRIFT_STATES = ["in_sync", "drifted", "unreachable"] as const;
export type DriftState = (typeof DRIFT_STATES)[number];

/** The GitHub work queue's jobs by state (pg-boss' queue counts). */
export interface QueueCounts {
  ready: number;
  deferred: number;
  active: number;
  failed: number;
}

export interface DatabaseReadings {
  queueJobs(): Promise<QueueCounts>;
  /** Deploy locks held now (not expired), by target. */
  locksHeld(): Promise<{ stack: string; host: string }[]>;
}

/** Event names that get their own label value; any other is `other` (the header is the sender's). */
const KNOWN_EVENTS = new Set([
  "push",
  "pull_request",
  "issue_comment",
  "check_run",
  "installation",
  "installation_repositories",
  "ping",
]);

/** The webhook endpoint's answer, by status. */
const WEBHOOK_RESULTS: Record<number, string> = {
  200: "accepted",
  400: "invalid",
  401: "bad_signature",
  413: "too_large",
  415: "invalid",
  500: "failed",
  503: "busy",
};

export class StackpilotMetrics {
  readonly registry = new Registry();
  readonly #cap: SeriesCap;
  readonly #webhooks: Counter<"event" | "result">;
  readonly #planDuration: Histogram<"result">;
  readonly #deployments: Counter<"environment" | "result">;
  readonly #deploymentDuration: Histogram<"environment">;
  readonly #hostUp: Gauge<"host">;
  readonly #drift: Gauge<"stack" | "host">;
  readonly #triggers: Counter<"trigger" | "status">;
  readonly #hookRuns: Counter<"hook" | "result">;
  readonly #hookDuration: Histogram<"hook">;
  readonly #runs: Counter<"procedure" | "result">;
  readonly #runDuration: Histogram<"procedure">;
  readonly #runStart: Histogram<"phase">;
  #queue: CachedReading<QueueCounts> | undefined;
  #locks: CachedReading<{ stack: string; host: string }[]> | undefined;

  constructor(opts: { maxSeries?: number; defaultMetrics?: boolean } = {}) {
    const registers = [this.registry];
    if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry });
    const dropped = new Counter({
      name: "stackpilot_metrics_series_dropped_total",
      help: "Label combinations not recorded: over the series cap, or not a name",
      labelNames: ["metric"],
      registers,
    });
    this.#cap = new SeriesCap(opts.maxSeries ?? DEFAULT_MAX_SERIES, (metric) => dropped.inc({ metric }));
    this.#webhooks = new Counter({
      name: "stackpilot_webhooks_total",
      help: "Webhook deliveries by event and how they were answered",
      labelNames: ["event", "result"],
      registers,
    });
    this.#planDuration = new Histogram({
      name: "stackpilot_plan_duration_seconds",
      help: "Time to plan a job (in the planner thread), by result",
      labelNames: ["result"],
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers,
    });
    this.#deployments = new Counter({
      name: "stackpilot_deployments_total",
      help: "Deployments of a (stack, host) by the App, by environment and result",
      labelNames: ["environment", "result"],
      registers,
    });
    this.#deploymentDuration = new Histogram({
      name: "stackpilot_deployment_duration_seconds",
      help: "Time of one (stack, host) deployment by the App, waiting for its lock included",
      labelNames: ["environment"],
      buckets: [1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800],
      registers,
    });
    this.#hostUp = new Gauge({
      name: "stackpilot_host_up",
      help: "1 when the last SSH contact with the host succeeded, 0 when it could not connect or log in",
      labelNames: ["host"],
      registers,
    });
    this.#drift = new Gauge({
      name: "stackpilot_drift",
      help: "What drift detection last found for a stack on a host: 0 in sync, 1 drifted, 2 host unreachable",
      labelNames: ["stack", "host"],
      registers,
    });
    this.#hookRuns = new Counter({
      name: "stackpilot_hook_runs_total",
      help: "Hook attempts in the App's deploys, by hook (post_sync, pre_deploy, post_deploy, on_failure) and result",
      labelNames: ["hook", "result"],
      registers,
    });
    this.#hookDuration = new Histogram({
      name: "stackpilot_hook_duration_seconds",
      help: "Time of one hook attempt on its host, by hook",
      labelNames: ["hook"],
      buckets: [0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600],
      registers,
    });
    this.#triggers = new Counter({
      name: "stackpilot_trigger_requests_total",
      help: "Requests to POST /triggers/NAME by trigger (unknown names: (unknown)) and HTTP status",
      labelNames: ["trigger", "status"],
      registers,
    });
    this.#runs = new Counter({
      name: "stackpilot_procedure_runs_total",
      help: "Procedure runs that ended, by procedure (deploy-changed without one) and result",
      labelNames: ["procedure", "result"],
      registers,
    });
    this.#runDuration = new Histogram({
      name: "stackpilot_procedure_run_duration_seconds",
      help: "Time from a procedure run's start to its end, by procedure",
      labelNames: ["procedure"],
      buckets: [1, 5, 10, 30, 60, 120, 300, 600, 1800, 3600],
      registers,
    });
    this.#runStart = new Histogram({
      name: "stackpilot_procedure_start_phase_seconds",
      help: "Where a procedure run's start goes, from its request to its first step: queued, lock, repository, fetch, policy, start, changes, check_run",
      labelNames: ["phase"],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5],
      registers,
    });
    const self = this;
    new Gauge({
      name: "stackpilot_queue_jobs",
      help: "Jobs in the GitHub work queue by state (as the queue counted them, every 10 s; read at most every 15 s)",
      labelNames: ["state"],
      registers,
      collect() {
        const counts = self.#queue?.latest();
        if (!counts) return;
        for (const [state, n] of Object.entries(counts)) this.set({ state }, n);
      },
    });
    new Gauge({
      name: "stackpilot_lock_held",
      help: "Deploy locks held now, by (stack, host) (read from the database, at most 15 s old)",
      labelNames: ["stack", "host"],
      registers,
      collect() {
        const held = self.#locks?.latest();
        if (!held) return;
        this.reset();
        self.#cap.releaseAll("stackpilot_lock_held");
        for (const { stack, host } of held)
          if (self.#cap.admit("stackpilot_lock_held", [stack, host])) this.inc({ stack, host });
      },
    });
  }

  /** Where the database-backed gauges come from; read at most every `maxAgeMs` (on scrapes). */
  readFromDatabase(
    readings: DatabaseReadings,
    opts: { maxAgeMs?: number; onError?: (err: unknown) => void } = {},
  ): void {
    const settings = {
      maxAgeMs: opts.maxAgeMs ?? 15_000,
      ...(opts.onError ? { onError: opts.onError } : {}),
    };
    this.#queue = new CachedReading(readings.queueJobs, settings);
    this.#locks = new CachedReading(readings.locksHeld, settings);
  }

  /** Reads the database-backed gauges now (tests; a scrape only starts a refresh). */
  async refreshDatabaseReadings(): Promise<void> {
    await Promise.all([this.#queue?.refresh(), this.#locks?.refresh()]);
  }

  /** A webhook request was answered with `status`; `event` is its X-GitHub-Event header. */
  webhook(event: string | undefined, status: number): void {
    const name = event && KNOWN_EVENTS.has(event) ? event : "other";
    this.#webhooks.inc({
      event: name,
      result: WEBHOOK_RESULTS[status] ?? `http_${status >= 500 ? "5xx" : "4xx"}`,
    });
  }

  /** Times a plan: its duration is observed whether it succeeds or throws. */
  async timePlan<T>(plan: () => Promise<T>): Promise<T> {
    const end = this.#planDuration.startTimer();
    try {
      const result = await plan();
      end({ result: "ok" });
      return result;
    } catch (err) {
      end({ result: "error" });
      throw err;
    }
  }

  /** One (stack, host) deployment of an App rollout ended. */
  deployment(environment: string, result: string, durationMs: number): void {
    if (!this.#cap.admit("stackpilot_deployments_total", [environment, result])) return;
    this.#deployments.inc({ environment, result });
    this.#deploymentDuration.observe({ environment }, durationMs / 1000);
  }

  /** One hook attempt ended (`succeeded`, `failed`, `timed_out`...). */
  hookRun(hook: string, result: string, durationMs: number): void {
    if (!this.#cap.admit("stackpilot_hook_runs_total", [hook, result])) return;
    this.#hookRuns.inc({ hook, result });
    this.#hookDuration.observe({ hook }, durationMs / 1000);
  }

  /** How `POST /triggers/NAME` was answered; names come from the hosts file, else `(unknown)`. */
  triggerRequest(trigger: string, status: number): void {
    const name = trigger === "(unknown)" ? "unknown" : trigger;
    if (this.#cap.admit("stackpilot_trigger_requests_total", [name, String(status)]))
      this.#triggers.inc({ trigger: name, status: String(status) });
  }

  /** A procedure run ended (`failed`, `succeeded`, `skipped`...). */
  procedureRun(procedure: string, result: string, durationMs: number): void {
    if (!this.#cap.admit("stackpilot_procedure_runs_total", [procedure, result])) return;
    this.#runs.inc({ procedure, result });
    this.#runDuration.observe({ procedure }, durationMs / 1000);
  }

  /** The phases of a run's start (procedureRun.ts), in milliseconds by phase; the names are ours. */
  procedureStart(phases: Record<string, number>): void {
    for (const [phase, ms] of Object.entries(phases)) this.#runStart.observe({ phase }, ms / 1000);
  }

  /** The last SSH contact with a host connected (up) or could not (down). */
  hostUp(host: string, up: boolean): void {
    if (this.#cap.admit("stackpilot_host_up", [host])) this.#hostUp.set({ host }, up ? 1 : 0);
  }

  /** What a drift round found for a stack on a host (for the drift loop). */
  drift(stack: string, host: string, state: DriftState): void {
    if (this.#cap.admit("stackpilot_drift", [stack, host]))
      this.#drift.set({ stack, host }, DRIFT_STATES.indexOf(state));
  }

  /** The (stack, host) has no record any more: its drift series goes. */
  forgetDrift(stack: string, host: string): void {
    this.#drift.remove({ stack, host });
    this.#cap.release("stackpilot_drift", [stack, host]);
  }

  /** The text a scrape gets (the exposition format) and its content type. */
  async exposition(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
