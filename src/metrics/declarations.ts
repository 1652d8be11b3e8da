/**
 * The Prometheus metrics Stackpilot declares, grouped by what they measure: each function declares
 * one group's metrics (name, help, labels, buckets) in the registries it is given. The names and
 * label names are the scrape's contract with dashboards and alerts; metrics.ts reports through them.
 */
import { Counter, Gauge, Histogram, type Registry } from "prom-client";
import type { SeriesCap } from "./labels.ts";
import type { QueueCounts } from "./metrics.ts";

type Registers = Registry[];

/** The label combinations the series cap turned away, by metric. */
export function seriesDroppedCounter(registers: Registers): Counter<"metric"> {
  return new Counter({
    name: "stackpilot_metrics_series_dropped_total",
    help: "Label combinations not recorded: over the series cap, or not a name",
    labelNames: ["metric"],
    registers,
  });
}

export function webhookCounter(registers: Registers): Counter<"event" | "result"> {
  return new Counter({
    name: "stackpilot_webhooks_total",
    help: "Webhook deliveries by event and how they were answered",
    labelNames: ["event", "result"],
    registers,
  });
}

export function planDurationHistogram(registers: Registers): Histogram<"result"> {
  return new Histogram({
    name: "stackpilot_plan_duration_seconds",
    help: "Time to plan a job (in the planner thread), by result",
    labelNames: ["result"],
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers,
  });
}

export interface DeploymentMetrics {
  count: Counter<"environment" | "result">;
  duration: Histogram<"environment">;
}

export function deploymentMetrics(registers: Registers): DeploymentMetrics {
  return {
    count: new Counter({
      name: "stackpilot_deployments_total",
      help: "Deployments of a (stack, host) by the App, by environment and result",
      labelNames: ["environment", "result"],
      registers,
    }),
    duration: new Histogram({
      name: "stackpilot_deployment_duration_seconds",
      help: "Time of one (stack, host) deployment by the App, waiting for its lock included",
      labelNames: ["environment"],
      buckets: [1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800],
      registers,
    }),
  };
}

export function hostUpGauge(registers: Registers): Gauge<"host"> {
  return new Gauge({
    name: "stackpilot_host_up",
    help: "1 when the last SSH contact with the host succeeded, 0 when it could not connect or log in",
    labelNames: ["host"],
    registers,
  });
}

export function driftGauge(registers: Registers): Gauge<"stack" | "host"> {
  return new Gauge({
    name: "stackpilot_drift",
    help: "What drift detection last found for a stack on a host: 0 in sync, 1 drifted, 2 host unreachable",
    labelNames: ["stack", "host"],
    registers,
  });
}

export interface HookMetrics {
  runs: Counter<"hook" | "result">;
  duration: Histogram<"hook">;
}

export function hookMetrics(registers: Registers): HookMetrics {
  return {
    runs: new Counter({
      name: "stackpilot_hook_runs_total",
      help: "Hook attempts in the App's deploys, by hook (post_sync, pre_deploy, post_deploy, on_failure) and result",
      labelNames: ["hook", "result"],
      registers,
    }),
    duration: new Histogram({
      name: "stackpilot_hook_duration_seconds",
      help: "Time of one hook attempt on its host, by hook",
      labelNames: ["hook"],
      buckets: [0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600],
      registers,
    }),
  };
}

export function triggerRequestCounter(registers: Registers): Counter<"trigger" | "status"> {
  return new Counter({
    name: "stackpilot_trigger_requests_total",
    help: "Requests to POST /triggers/NAME by trigger (unknown names: (unknown)) and HTTP status",
    labelNames: ["trigger", "status"],
    registers,
  });
}

export interface ProcedureMetrics {
  runs: Counter<"procedure" | "result">;
  duration: Histogram<"procedure">;
  startPhases: Histogram<"phase">;
}

export function procedureMetrics(registers: Registers): ProcedureMetrics {
  return {
    runs: new Counter({
      name: "stackpilot_procedure_runs_total",
      help: "Procedure runs that ended, by procedure (deploy-changed without one) and result",
      labelNames: ["procedure", "result"],
      registers,
    }),
    duration: new Histogram({
      name: "stackpilot_procedure_run_duration_seconds",
      help: "Time from a procedure run's start to its end, by procedure",
      labelNames: ["procedure"],
      buckets: [1, 5, 10, 30, 60, 120, 300, 600, 1800, 3600],
      registers,
    }),
    startPhases: new Histogram({
      name: "stackpilot_procedure_start_phase_seconds",
      help: "Where a procedure run's start goes, from its request to its first step: queued, lock, repository, fetch, policy, start, changes, check_run",
      labelNames: ["phase"],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5],
      registers,
    }),
  };
}

/** Set on each scrape from `latest`, the cached queue counts (none yet: the gauge stays as it was). */
export function queueJobsGauge(registers: Registers, latest: () => QueueCounts | undefined): Gauge<"state"> {
  return new Gauge({
    name: "stackpilot_queue_jobs",
    help: "Jobs in the GitHub work queue by state (as the queue counted them, every 10 s; read at most every 15 s)",
    labelNames: ["state"],
    registers,
    collect() {
      const counts = latest();
      if (!counts) return;
      for (const [state, n] of Object.entries(counts)) this.set({ state }, n);
    },
  });
}

/** Rebuilt on each scrape from `latest`, the cached locks held; its series count against `cap`. */
export function lockHeldGauge(
  registers: Registers,
  latest: () => { stack: string; host: string }[] | undefined,
  cap: SeriesCap,
): Gauge<"stack" | "host"> {
  return new Gauge({
    name: "stackpilot_lock_held",
    help: "Deploy locks held now, by (stack, host) (read from the database, at most 15 s old)",
    labelNames: ["stack", "host"],
    registers,
    collect() {
      const held = latest();
      if (!held) return;
      this.reset();
      cap.releaseAll("stackpilot_lock_held");
      for (const { stack, host } of held)
        if (cap.admit("stackpilot_lock_held", [stack, host])) this.inc({ stack, host });
    },
  });
}
