// /metrics over real HTTP on both backends: the counters after real webhook deliveries, the queue
// and lock gauges read from the database, the optional bearer token; label values bounded (only
// names, a cap per metric), no secret in the text. host_up from real SSH attempts.
import { createServer } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseHostsFile } from "../../src/config/hostsFile.ts";
import { SshPool } from "../../src/deploy/ssh/pool.ts";
import type { Services } from "../../src/github/server.ts";
import { reportingHostUp } from "../../src/metrics/hostUp.ts";
import { StackpilotMetrics } from "../../src/metrics/metrics.ts";
import { type ServedApp, serveApp } from "../helpers/appServer.ts";
import { useStateBackends } from "../helpers/stateBackends.ts";
import { examplePayload, sign, testAppPrivateKey } from "../helpers/webhooks.ts";

const SECRET = "metrics-webhook-secret";
const TOKEN = "metrics-token-0123";

const backends = useStateBackends();

/** The value of one series in the exposition text, or undefined when it is absent. */
function sample(text: string, series: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

const text = async (m: StackpilotMetrics) => (await m.exposition()).body;

describe.each(backends)("/metrics on $name", (backend) => {
  let app: ServedApp;
  let services: Services;
  let base: string;

  beforeAll(async () => {
    app = await serveApp(backend, { WEBHOOK_SECRET: SECRET, STACKPILOT_METRICS_TOKEN: TOKEN });
    services = app.services;
    base = app.base;
  }, 120_000);

  afterAll(async () => {
    await app?.close();
  });

  async function deliver(id: string, event: string, payload: unknown, secret = SECRET) {
    const body = JSON.stringify(payload);
    const res = await fetch(`${base}/api/github/webhooks`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "x-github-event": event,
        "x-github-delivery": id,
        "x-hub-signature-256": sign(body, secret),
      },
      body,
    });
    await res.text();
    return res.status;
  }

  async function scrape(): Promise<string> {
    const res = await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/plain");
    return res.text();
  }

  it("wants the bearer token when one is set", async () => {
    expect((await fetch(`${base}/metrics`)).status).toBe(401);
    const wrong = await fetch(`${base}/metrics`, { headers: { authorization: "Bearer metrics-token-012" } });
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get("www-authenticate")).toContain("Bearer");
    expect(await scrape()).toContain("process_resident_memory_bytes");
  });

  it("counts webhook deliveries by event and result, folding unknown event names into `other`", async () => {
    expect(await deliver("m-1", "pull_request", examplePayload("pull_request", "opened"))).toBe(200);
    expect(await deliver("m-2", "pull_request", examplePayload("pull_request", "opened"), "wrong")).toBe(401);
    expect(await deliver("m-3", 'x"} stackpilot_fake 1', { zen: "x" })).toBeGreaterThanOrEqual(400);
    const text = await scrape();
    expect(sample(text, 'stackpilot_webhooks_total{event="pull_request",result="accepted"}')).toBe(1);
    expect(sample(text, 'stackpilot_webhooks_total{event="pull_request",result="bad_signature"}')).toBe(1);
    expect(text).toMatch(/stackpilot_webhooks_total\{event="other",result="[a-z_0-9]+"\} 1/);
    expect(text).not.toContain("stackpilot_fake");
    for (const secret of [SECRET, TOKEN]) expect(text).not.toContain(secret);
  });

  it("reports the queue's jobs by state and the deploy locks held, read from the database", async () => {
    await services.store.acquireLock("deploy:acme/infra:web:app-1", "test-owner", 600_000);
    // The queue's counts are pg-boss' own, refreshed by its monitor every 10 s.
    const deadline = Date.now() + 60_000;
    let text = "";
    for (;;) {
      await services.metrics.refreshDatabaseReadings();
      text = await scrape();
      if ((sample(text, 'stackpilot_queue_jobs{state="ready"}') ?? 0) >= 1 || Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 1000));
    }
    expect(sample(text, 'stackpilot_queue_jobs{state="ready"}')).toBeGreaterThanOrEqual(1);
    expect(sample(text, 'stackpilot_queue_jobs{state="active"}')).toBe(0);
    expect(sample(text, 'stackpilot_lock_held{stack="web",host="app-1"}')).toBe(1);
    expect(text).not.toContain("acme");
    expect(text).not.toContain("test-owner");

    await services.store.releaseLock("deploy:acme/infra:web:app-1", "test-owner");
    await services.metrics.refreshDatabaseReadings();
    expect(sample(await scrape(), 'stackpilot_lock_held{stack="web",host="app-1"}')).toBeUndefined();
  }, 90_000);
});

describe("StackpilotMetrics", () => {
  it("records deployments by environment and result with their duration", async () => {
    const m = new StackpilotMetrics({ defaultMetrics: false });
    m.deployment("production", "succeeded", 12_000);
    m.deployment("production", "failed", 3_000);
    const t = await text(m);
    expect(sample(t, 'stackpilot_deployments_total{environment="production",result="succeeded"}')).toBe(1);
    expect(sample(t, 'stackpilot_deployments_total{environment="production",result="failed"}')).toBe(1);
    expect(sample(t, 'stackpilot_deployment_duration_seconds_sum{environment="production"}')).toBe(15);
    expect(sample(t, 'stackpilot_deployment_duration_seconds_count{environment="production"}')).toBe(2);
  });

  it("counts trigger requests by trigger and status, procedure runs and hook attempts by result with their time", async () => {
    const m = new StackpilotMetrics({ defaultMetrics: false });
    m.triggerRequest("fleet", 202);
    m.triggerRequest("fleet", 401);
    m.triggerRequest("(unknown)", 404);
    m.procedureRun("rollout", "succeeded", 90_000);
    m.procedureRun("rollout", "failed", 30_000);
    m.hookRun("pre_deploy", "succeeded", 1_500);
    m.hookRun("pre_deploy", "timed_out", 60_000);
    const t = await text(m);
    expect(sample(t, 'stackpilot_trigger_requests_total{trigger="fleet",status="202"}')).toBe(1);
    expect(sample(t, 'stackpilot_trigger_requests_total{trigger="fleet",status="401"}')).toBe(1);
    expect(sample(t, 'stackpilot_trigger_requests_total{trigger="unknown",status="404"}')).toBe(1);
    expect(sample(t, 'stackpilot_procedure_runs_total{procedure="rollout",result="failed"}')).toBe(1);
    expect(sample(t, 'stackpilot_procedure_run_duration_seconds_sum{procedure="rollout"}')).toBe(120);
    expect(sample(t, 'stackpilot_hook_runs_total{hook="pre_deploy",result="timed_out"}')).toBe(1);
    expect(sample(t, 'stackpilot_hook_duration_seconds_sum{hook="pre_deploy"}')).toBe(61.5);
  });

  it("records where procedure runs' starts went, by phase", async () => {
    const m = new StackpilotMetrics({ defaultMetrics: false });
    m.procedureStart({ queued: 4, fetch: 60 });
    m.procedureStart({ queued: 2, fetch: 40 });
    const t = await text(m);
    expect(sample(t, 'stackpilot_procedure_start_phase_seconds_sum{phase="fetch"}')).toBeCloseTo(0.1);
    expect(sample(t, 'stackpilot_procedure_start_phase_seconds_count{phase="queued"}')).toBe(2);
    expect(sample(t, 'stackpilot_procedure_start_phase_seconds_bucket{le="0.005",phase="queued"}')).toBe(2);
  });

  it("times plans whether they succeed or throw", async () => {
    const m = new StackpilotMetrics({ defaultMetrics: false });
    expect(await m.timePlan(async () => 7)).toBe(7);
    await expect(m.timePlan(async () => Promise.reject(new Error("boom")))).rejects.toThrow("boom");
    const t = await text(m);
    expect(sample(t, 'stackpilot_plan_duration_seconds_count{result="ok"}')).toBe(1);
    expect(sample(t, 'stackpilot_plan_duration_seconds_count{result="error"}')).toBe(1);
  });

  it("drops label values that are not names, and series past the cap, counting what it dropped", async () => {
    const m = new StackpilotMetrics({ defaultMetrics: false, maxSeries: 2 });
    m.drift("web", "h1", "drifted");
    m.drift("web two", "h1", "drifted");
    m.drift("api", "h1", "in_sync");
    m.drift("db", "h1", "unreachable");
    m.drift("web", "h1", "in_sync"); // an existing series is still updated at the cap
    const t = await text(m);
    expect(sample(t, 'stackpilot_drift{stack="web",host="h1"}')).toBe(0);
    expect(sample(t, 'stackpilot_drift{stack="api",host="h1"}')).toBe(0);
    expect(t).not.toContain('stack="db"');
    expect(t).not.toContain("web two");
    expect(sample(t, 'stackpilot_metrics_series_dropped_total{metric="stackpilot_drift"}')).toBe(2);
    m.forgetDrift("api", "h1");
    m.drift("db", "h1", "unreachable");
    expect(sample(await text(m), 'stackpilot_drift{stack="db",host="h1"}')).toBe(2);
  });

  it("never waits for the database in a scrape: a slow reading leaves the last value", async () => {
    const m = new StackpilotMetrics({ defaultMetrics: false });
    let calls = 0;
    m.readFromDatabase(
      {
        queueJobs: async () => {
          calls++;
          if (calls > 1) await new Promise(() => {}); // the database hangs from now on
          return { ready: 3, deferred: 0, active: 1, failed: 0 };
        },
        locksHeld: async () => [],
      },
      { maxAgeMs: 0 },
    );
    await m.refreshDatabaseReadings();
    const t0 = performance.now();
    const t = await text(m);
    expect(performance.now() - t0).toBeLessThan(1_000);
    expect(sample(t, 'stackpilot_queue_jobs{state="ready"}')).toBe(3);
    expect(calls).toBe(2);
  });
});

describe("stackpilot_host_up", () => {
  it("is 0 for a host that refuses SSH connections", async () => {
    const srv = createServer();
    await new Promise<void>((r) => srv.listen(0, "127.0.0.1", () => r()));
    const port = (srv.address() as { port: number }).port;
    await new Promise<void>((r) => srv.close(() => r()));
    const { hosts, problems } = parseHostsFile(
      JSON.stringify({
        hosts: [
          {
            name: "down-1",
            address: "127.0.0.1",
            port,
            user: "deploy",
            key: { env: "SP_TEST_NO_KEY" },
            trust_on_first_use: true,
          },
        ],
      }),
      "hosts.yml",
    );
    expect(problems).toEqual([]);
    const pool = new SshPool(hosts, { readyTimeoutMs: 5_000, env: { SP_TEST_NO_KEY: testAppPrivateKey } });
    const m = new StackpilotMetrics({ defaultMetrics: false });
    try {
      await expect(reportingHostUp(pool, m).exec("down-1", "true")).rejects.toThrow();
    } finally {
      await pool.close();
    }
    expect(sample(await text(m), 'stackpilot_host_up{host="down-1"}')).toBe(0);
  }, 30_000);
});
