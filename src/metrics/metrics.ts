/**
 * The App's Prometheus metrics (prom-client), one registry per App: Node's process metrics plus
 * Stackpilot's own. Code reports through the small methods below; gauges that need the database
 * (queue jobs, locks) are read by `readFromDatabase`'s functions, cached, and never awaited by a
 * scrape (labels.ts `CachedReading`). Label values are names from the hosts file or repo config,
 * bounded per metric (labels.ts `SeriesCap`): never SHAs, never free text. The metrics themselves
 * (names, help, labels, buckets) are declared in declarations.ts.
 */
import { type Counter, collectDefaultMetrics, type Gauge, type Histogram, Registry } from "prom-client";
import {
  type DeploymentMetrics,
  deploymentMetrics,
  driftGauge,
  type HookMetrics,
  hookMetrics,
  hostUpGauge,
  lockHeldGauge,
  type ProcedureMetrics,
  planDurationHistogram,
  procedureMetrics,
  queueJobsGauge,
  seriesDroppedCounter,
  triggerRequestCounter,
  webhookCounter,
} from "./declarations.ts";
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
  readonly #deployments: DeploymentMetrics;
  readonly #hostUp: Gauge<"host">;
  readonly #drift: Gauge<"stack" | "host">;
  readonly #triggers: Counter<"trigger" | "status">;
  readonly #hooks: HookMetrics;
  readonly #procedures: ProcedureMetrics;
  #queue: CachedReading<QueueCounts> | undefined;
  #locks: CachedReading<{ stack: string; host: string }[]> | undefined;

  constructor(opts: { maxSeries?: number; defaultMetrics?: boolean } = {}) {
    const registers = [this.registry];
    if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry });
    const dropped = seriesDroppedCounter(registers);
    this.#cap = new SeriesCap(opts.maxSeries ?? DEFAULT_MAX_SERIES, (metric) => dropped.inc({ metric }));
    // Declared in this order so that the exposition lists them as it always has.
    this.#webhooks = webhookCounter(registers);
    this.#planDuration = planDurationHistogram(registers);
    this.#deployments = deploymentMetrics(registers);
    this.#hostUp = hostUpGauge(registers);
    this.#drift = driftGauge(registers);
    this.#hooks = hookMetrics(registers);
    this.#triggers = triggerRequestCounter(registers);
    this.#procedures = procedureMetrics(registers);
    queueJobsGauge(registers, () => this.#queue?.latest());
    lockHeldGauge(registers, () => this.#locks?.latest(), this.#cap);
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
    this.#deployments.count.inc({ environment, result });
    this.#deployments.duration.observe({ environment }, durationMs / 1000);
  }

  /** One hook attempt ended (`succeeded`, `failed`, `timed_out`...). */
  hookRun(hook: string, result: string, durationMs: number): void {
    if (!this.#cap.admit("stackpilot_hook_runs_total", [hook, result])) return;
    this.#hooks.runs.inc({ hook, result });
    this.#hooks.duration.observe({ hook }, durationMs / 1000);
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
    this.#procedures.runs.inc({ procedure, result });
    this.#procedures.duration.observe({ procedure }, durationMs / 1000);
  }

  /** The phases of a run's start (procedureRun.ts), in milliseconds by phase; the names are ours. */
  procedureStart(phases: Record<string, number>): void {
    for (const [phase, ms] of Object.entries(phases))
      this.#procedures.startPhases.observe({ phase }, ms / 1000);
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
