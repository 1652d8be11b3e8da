/**
 * Webhook benchmark. Requirement: signed webhook deliveries at 100 per second for 60 s against the
 * running app: p99 time to response <= 50 ms, zero lost or duplicated jobs (counted).
 *
 * The app runs in a child process (`createServices(env, {worker: false})` + `startServer`, embedded
 * PGlite under .tmp/bench/webhooks, so the load generator never shares its event loop); the same
 * request stream (webhooksLib/load.ts: real example payloads, unique delivery ids, ~5% redeliveries
 * of an earlier id, ~1% bad signatures) is sent open-loop at a fixed rate, loopback only, first to
 * a baseline child (a bare node:http server that checks the signature and answers 200: what the
 * hardware can do), then to the app. Afterwards the app's queue is counted against what it accepted:
 * lost = accepted unique ids not queued, duplicated = queued jobs - unique queued ids.
 *
 * The server's memory is sampled every second and shown as a timeline (start-up, the load in
 * quarters, the end) next to the peak: a start-up peak and growth under load read apart.
 *
 * Targets are reported, not asserted (exit 0); lost or duplicated jobs are printed loudly.
 * Knobs (environment): BENCH_WEBHOOK_SECONDS (default 60), BENCH_WEBHOOK_RATE (per second,
 * default 100), BENCH_KEEP=1 keeps .tmp/bench/webhooks (the PGlite data dir and the app's log).
 */
import { type ChildProcess, fork } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import { closeSync, openSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { performance } from "node:perf_hooks";
import { inScratchDir } from "./lib/scratch.ts";
import { fmtBytes, fmtMs, fmtRatio, fmtS, table } from "./lib/stats.ts";
import {
  buildStream,
  type Delivery,
  type Outcome,
  quantile,
  runOpenLoop,
  warmUp,
} from "./webhooksLib/load.ts";
import type { MemorySample } from "./webhooksLib/serverChild.ts";

const ROOT = resolve(import.meta.dirname, "..");
const TMP = join(ROOT, ".tmp", "bench", "webhooks");
const SECONDS = Number(process.env.BENCH_WEBHOOK_SECONDS ?? 60);
const RATE = Number(process.env.BENCH_WEBHOOK_RATE ?? 100);
const WARMUP = 30;
const SECRET = "bench-webhook-secret";
const TARGET_P99_MS = 50;

const log = (s: string) => process.stderr.write(`${s}\n`);
const started = performance.now();

interface Target {
  name: string;
  outcomes: Outcome[];
  warm: Outcome[];
  wallMs: number;
  queued?: string[];
  rssKb: number;
  outbound: string[];
  startMs: number;
  memory: MemorySample[];
}

await inScratchDir(TMP, main);

async function main(): Promise<void> {
  const count = Math.round(SECONDS * RATE);
  const interval = 1000 / RATE;
  const stream = buildStream({ count, secret: SECRET });
  const warm = buildStream({
    count: WARMUP,
    secret: SECRET,
    seed: 7,
    redeliveryRate: 0,
    badSignatureRate: 0,
  }).map((d) => ({ ...d, id: d.id.replace("bench-", "warmup-") }));
  const kinds = { new: 0, redelivery: 0, badsig: 0 };
  for (const d of stream) kinds[d.kind]++;
  const events = new Map<string, number>();
  for (const d of stream) events.set(d.event, (events.get(d.event) ?? 0) + 1);
  console.log(
    `stream: ${count} deliveries at ${RATE}/s for ${SECONDS} s (open loop, one every ${interval} ms): ` +
      `${kinds.new} new, ${kinds.redelivery} redeliveries of an earlier id, ${kinds.badsig} bad signatures; ` +
      `${[...events].map(([e, n]) => `${n} ${e}`).join(", ")}; + ${WARMUP} warm-up deliveries (not timed, counted)`,
  );
  const { privateKey } = generateKeyPairSync("rsa", {
    modulusLength: 2048,
    privateKeyEncoding: { type: "pkcs1", format: "pem" },
    publicKeyEncoding: { type: "spki", format: "pem" },
  });

  const baseline = await runTarget("baseline", stream, warm, interval, {});
  const app = await runTarget("app", stream, warm, interval, {
    BENCH_DATA_DIR: join(TMP, "data"),
    BENCH_PRIVATE_KEY: privateKey,
  });
  report(stream, warm, app, baseline);
}

async function runTarget(
  mode: "app" | "baseline",
  stream: Delivery[],
  warm: Delivery[],
  interval: number,
  env: Record<string, string>,
): Promise<Target> {
  const logPath = join(TMP, `${mode}.log`);
  const fd = openSync(logPath, "w");
  const t = performance.now();
  const child = fork(join(import.meta.dirname, "webhooksLib", "serverChild.ts"), [mode], {
    cwd: ROOT,
    env: { ...process.env, ...env, BENCH_SECRET: SECRET },
    stdio: ["ignore", fd, fd, "ipc"],
  });
  closeSync(fd);
  try {
    const ready = await reply<{ port: number }>(child, "ready", undefined, 120_000, logPath);
    const startMs = performance.now() - t;
    log(`${mode}: listening on 127.0.0.1:${ready.port} after ${fmtMs(startMs)}; warming up`);
    const warmOut = await warmUp(ready.port, warm);
    log(`${mode}: sending ${stream.length} deliveries`);
    child.send({ type: "mark", label: "load start" });
    const { outcomes, wallMs } = await runOpenLoop(ready.port, stream, interval);
    child.send({ type: "mark", label: "load end" });
    const lat = outcomes.map((o) => o.ms).sort((a, b) => a - b);
    log(
      `${mode}: done in ${fmtS(wallMs)}; p50 ${fmtMs(quantile(lat, 0.5))}, p99 ${fmtMs(quantile(lat, 0.99))}, max ${fmtMs(lat.at(-1) ?? Number.NaN)}`,
    );
    // Every job is queued before its response is sent; still, wait until the count stops moving
    // (@octokit/webhooks answers 202 and carries on when a handler outlasts its timeout).
    type Answer = { ids: string[]; rssKb: number; outbound: string[]; memory: MemorySample[] };
    let last: Answer | undefined;
    for (let k = 0; k < 20; k++) {
      const now = await reply<Answer>(child, "deliveries", { type: "deliveries" }, 60_000, logPath);
      if (last && now.ids.length === last.ids.length) break;
      last = now;
      await new Promise((r) => setTimeout(r, 500));
    }
    const final = last as Answer;
    return {
      name: mode,
      outcomes,
      warm: warmOut,
      wallMs,
      ...(mode === "app" ? { queued: final.ids } : {}),
      rssKb: final.rssKb,
      outbound: final.outbound,
      startMs,
      memory: final.memory,
    };
  } finally {
    if (child.connected) child.send({ type: "stop" });
    const exited = await Promise.race([
      new Promise<boolean>((r) => child.once("exit", () => r(true))),
      new Promise<boolean>((r) => setTimeout(() => r(false), 30_000)),
    ]);
    if (!exited && child.exitCode === null) child.kill("SIGKILL");
  }
}

/** Waits for one IPC message of a type from the child (after sending `ask`, if any). */
function reply<T>(
  child: ChildProcess,
  type: string,
  ask: unknown,
  timeoutMs: number,
  logPath: string,
): Promise<T> {
  return new Promise<T>((resolvePromise, reject) => {
    const onMessage = (m: { type: string }) => {
      if (m.type !== type) return;
      cleanup();
      resolvePromise(m as T);
    };
    const onExit = (code: number | null) => {
      cleanup();
      reject(new Error(`server child exited (${code}) waiting for ${type}:\n${tail(logPath)}`));
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`server child: no ${type} after ${timeoutMs} ms:\n${tail(logPath)}`));
    }, timeoutMs);
    const cleanup = () => {
      clearTimeout(timer);
      child.off("message", onMessage);
      child.off("exit", onExit);
    };
    child.on("message", onMessage);
    child.on("exit", onExit);
    if (ask !== undefined) child.send(ask as object);
  });
}

function tail(path: string): string {
  try {
    return readFileSync(path, "utf8").split("\n").slice(-30).join("\n");
  } catch {
    return "(no log)";
  }
}

interface Counts {
  ok2xx: number;
  s401: number;
  badsig401: number;
  badsigNot401: number;
  good401: number;
  other: number;
  otherKinds: Map<string, number>;
  accepted: Set<string>;
  maxLag: number;
}

function count(stream: Delivery[], warm: Delivery[], t: Target): Counts {
  const c: Counts = {
    ok2xx: 0,
    s401: 0,
    badsig401: 0,
    badsigNot401: 0,
    good401: 0,
    other: 0,
    otherKinds: new Map(),
    accepted: new Set(),
    maxLag: 0,
  };
  const tally = (d: Delivery, o: Outcome, timed: boolean) => {
    if (timed) c.maxLag = Math.max(c.maxLag, o.lagMs);
    const s = o.status;
    if (d.kind === "badsig") {
      if (s === 401) c.badsig401++;
      else c.badsigNot401++;
    }
    if (s !== undefined && s >= 200 && s < 300) {
      if (timed) c.ok2xx++;
      if (d.kind !== "badsig") c.accepted.add(d.id);
    } else if (s === 401) {
      if (timed) c.s401++;
      if (d.kind !== "badsig") c.good401++;
    } else if (d.kind !== "badsig" || s !== undefined) {
      c.other++;
      const k = s === undefined ? (o.error ?? "error") : `HTTP ${s}`;
      c.otherKinds.set(k, (c.otherKinds.get(k) ?? 0) + 1);
    }
  };
  for (const [i, d] of stream.entries()) tally(d, t.outcomes[i] as Outcome, true);
  for (const [i, d] of warm.entries()) tally(d, t.warm[i] as Outcome, false);
  return c;
}

function report(stream: Delivery[], warm: Delivery[], app: Target, base: Target): void {
  const a = count(stream, warm, app);
  const b = count(stream, warm, base);
  const lat = (t: Target, pick: (d: Delivery) => boolean = () => true) =>
    t.outcomes
      .filter((_, i) => pick(stream[i] as Delivery))
      .map((o) => o.ms)
      .sort((x, y) => x - y);
  const la = lat(app);
  const lb = lat(base);
  const yes = (ok: boolean) => (ok ? "yes" : "**NO**");
  const lagP99 = (t: Target) =>
    quantile(
      t.outcomes.map((o) => o.lagMs).sort((x, y) => x - y),
      0.99,
    );

  const queued = app.queued ?? [];
  const queuedSet = new Set(queued);
  const lost = [...a.accepted].filter((id) => !queuedSet.has(id));
  const duplicated = queued.length - queuedSet.size;
  const badIds = new Set(stream.filter((d) => d.kind === "badsig").map((d) => d.id));
  const badQueued = queued.filter((id) => badIds.has(id));
  const stray = [...queuedSet].filter((id) => !a.accepted.has(id) && !badIds.has(id));
  const badsigTotal = stream.filter((d) => d.kind === "badsig").length;

  const rows: string[][] = [];
  for (const [label, q] of [
    ["p50", 0.5],
    ["p95", 0.95],
    ["p99", 0.99],
    ["max", 1],
  ] as const) {
    const x = quantile(la, q);
    const y = quantile(lb, q);
    rows.push([
      `time to response, ${label} (all ${la.length}, from scheduled send)`,
      fmtMs(x),
      fmtMs(y),
      fmtRatio(x / y),
      label === "p99" ? `<= ${TARGET_P99_MS} ms` : "report",
      label === "p99" ? yes(x <= TARGET_P99_MS) : "-",
    ]);
  }
  for (const [label, kind] of [
    ["new deliveries (job queued)", "new"],
    ["redeliveries (ignored)", "redelivery"],
    ["bad signatures (401)", "badsig"],
  ] as const) {
    const x = lat(app, (d) => d.kind === kind);
    const y = lat(base, (d) => d.kind === kind);
    rows.push([
      `  p99 of ${label}, n=${x.length}`,
      fmtMs(quantile(x, 0.99)),
      fmtMs(quantile(y, 0.99)),
      fmtRatio(quantile(x, 0.99) / quantile(y, 0.99)),
      "report",
      "-",
    ]);
  }
  const rate = (t: Target) => `${((t.outcomes.length / t.wallMs) * 1000).toFixed(1)}/s`;
  rows.push(
    [
      "deliveries sent / achieved rate (start to last response)",
      `${app.outcomes.length}, ${rate(app)}`,
      `${base.outcomes.length}, ${rate(base)}`,
      "-",
      `${RATE}/s for ${SECONDS} s`,
      yes(app.outcomes.length === Math.round(RATE * SECONDS)),
    ],
    [
      "generator send lag, p99 / max (scheduled -> request started)",
      `${fmtMs(lagP99(app))} / ${fmtMs(a.maxLag)}`,
      `${fmtMs(lagP99(base))} / ${fmtMs(b.maxLag)}`,
      "-",
      "report",
      "-",
    ],
    [
      "accepted unique deliveries (2xx, good signature, incl. warm-up)",
      String(a.accepted.size),
      String(b.accepted.size),
      "-",
      `${stream.filter((d) => d.kind === "new").length + warm.length} (all)`,
      yes(a.accepted.size === stream.filter((d) => d.kind === "new").length + warm.length),
    ],
    [
      "jobs in the queue (unique delivery ids)",
      `${queued.length} (${queuedSet.size})`,
      "-",
      "-",
      "= accepted",
      yes(queuedSet.size === a.accepted.size && duplicated === 0),
    ],
    ["LOST jobs (accepted - queued)", String(lost.length), "-", "-", "0", yes(lost.length === 0)],
    ["DUPLICATED jobs (queued - unique ids)", String(duplicated), "-", "-", "0", yes(duplicated === 0)],
    [
      "bad signatures: 401 / jobs created",
      `${a.badsig401}/${badsigTotal} / ${badQueued.length}`,
      `${b.badsig401}/${badsigTotal} / -`,
      "-",
      `${badsigTotal}/${badsigTotal} / 0`,
      yes(a.badsig401 === badsigTotal && badQueued.length === 0),
    ],
    [
      "401s in total (good signatures answered 401)",
      `${a.s401} (${a.good401})`,
      `${b.s401} (${b.good401})`,
      "-",
      `${badsigTotal} (0)`,
      yes(a.s401 === badsigTotal && a.good401 === 0),
    ],
    [
      "other errors (non-2xx/401 statuses, network errors, timeouts)",
      `${a.other}${fmtKinds(a.otherKinds)}`,
      `${b.other}${fmtKinds(b.otherKinds)}`,
      "-",
      "0",
      yes(a.other === 0),
    ],
    ["queued jobs of requests not answered 2xx (stray)", String(stray.length), "-", "-", "report", "-"],
    [
      "outbound connections from the server process",
      String(app.outbound.length),
      String(base.outbound.length),
      "-",
      "0 (loopback only)",
      yes(app.outbound.length === 0),
    ],
    [
      "server process peak RSS",
      fmtBytes(app.rssKb * 1024),
      fmtBytes(base.rssKb * 1024),
      fmtRatio(app.rssKb / base.rssKb),
      "report",
      "-",
    ],
    [
      "server start to listening (child process)",
      fmtMs(app.startMs),
      fmtMs(base.startMs),
      "-",
      "report",
      "-",
    ],
  );
  console.log("");
  console.log(table(["metric", "stackpilot", "baseline", "ratio", "target", "met?"], rows));
  console.log("");
  console.log(memoryTimeline(app, base));
  console.log("");
  if (lost.length > 0) {
    const msg = `!!! LOST ${lost.length} JOBS: accepted (2xx) but not in the queue, e.g. ${lost.slice(0, 10).join(", ")}`;
    console.log(msg);
    log(msg);
  }
  if (duplicated > 0) {
    const dups = queued.filter((id, i) => queued.indexOf(id) !== i);
    const msg = `!!! DUPLICATED ${duplicated} JOBS: e.g. ${[...new Set(dups)].slice(0, 10).join(", ")}`;
    console.log(msg);
    log(msg);
  }
  if (badQueued.length > 0) {
    const msg = `!!! ${badQueued.length} JOBS FROM BAD SIGNATURES: ${badQueued.slice(0, 10).join(", ")}`;
    console.log(msg);
    log(msg);
  }
  console.log(
    [
      `notes: open loop, request i scheduled at t0 + i x ${1000 / RATE} ms; time to response = end of response body`,
      `  minus scheduled send time, so generator lag and server stalls both count. One fresh loopback TCP`,
      `  connection per delivery (no keep-alive, as GitHub's deliveries arrive). Server and generator are`,
      `  separate processes; baseline ran first, then the app, with the identical stream (seeded).`,
      `  App: createServices({worker: false}) + startServer, PGlite in ${join(".tmp", "bench", "webhooks", "data")},`,
      `  Probot at its default log level (log to a file). Baseline: node:http, read body, validSignature, 200.`,
      `  Redeliveries reuse an earlier id, body and signature (some while the original is still in flight).`,
      `  ${warm.length} warm-up deliveries sent one by one before timing, counted in the queue accounting.`,
    ].join("\n"),
  );
  console.log(`webhook benchmark took ${fmtS(performance.now() - started)}`);
}

function fmtKinds(m: Map<string, number>): string {
  return m.size === 0 ? "" : ` (${[...m].map(([k, n]) => `${n}x ${k}`).join(", ")})`;
}

/**
 * The server's memory over its life: RSS (JS heap in use, memory outside the heap) at start-up,
 * through the load in quarters, and at the end; a start-up spike and growth under load read apart.
 */
function memoryTimeline(app: Target, base: Target): string {
  const at = (t: Target, label: string) => t.memory.find((m) => m.label === label);
  const near = (t: Target, ms: number) =>
    t.memory.reduce<MemorySample | undefined>(
      (best, m) => (!best || Math.abs(m.t - ms) < Math.abs(best.t - ms) ? m : best),
      undefined,
    );
  const cell = (m: MemorySample | undefined) =>
    m ? `${fmtBytes(m.rss)} (${fmtBytes(m.heapUsed)}, ${fmtBytes(m.external)})` : "-";
  const points: [string, (t: Target) => MemorySample | undefined][] = [
    ["listening", (t) => at(t, "listening")],
    ["load start (after warm-up)", (t) => at(t, "load start")],
  ];
  for (const q of [0.25, 0.5, 0.75]) {
    points.push([
      `load ${q * 100}%`,
      (t) => {
        const s = at(t, "load start");
        const e = at(t, "load end");
        return s && e ? near(t, s.t + (e.t - s.t) * q) : undefined;
      },
    ]);
  }
  points.push(["load end", (t) => at(t, "load end")], ["last sample", (t) => t.memory.at(-1)]);
  const rows = points.map(([label, pick]) => [label, cell(pick(app)), cell(pick(base))]);
  const peak = (t: Target) => Math.max(...t.memory.map((m) => m.rss));
  rows.push(
    ["highest sampled RSS (1 s samples)", fmtBytes(peak(app)), fmtBytes(peak(base))],
    ["peak RSS (getrusage maxRSS)", fmtBytes(app.rssKb * 1024), fmtBytes(base.rssKb * 1024)],
  );
  return table(["server memory: RSS (JS heap used, outside the heap)", "stackpilot", "baseline"], rows);
}
