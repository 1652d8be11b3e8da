/**
 * Web UI benchmark. Requirement: the matrix for 1,000 stacks x 10 hosts renders server-side in at
 * most 200 ms (median of 10) and weighs at most 500 KB; time to first byte of a deployment page
 * under a running deploy, reported.
 *
 * The UI runs on a loopback node:http server over a real store, the
 * way the App mounts it (PGlite under .tmp/bench/ui, then a throwaway Postgres server, each
 * timed the same way), and is asked with the static token (`Authorization: Bearer`). Two
 * repositories of 1,000 x 10 targets each, written with one SQL statement per table:
 * - `acme/typical`: each stack at one commit on all its hosts (how a fleet usually looks), 1% of
 *   last deploys failed, 0.5% of targets locked, every target drift-checked (1% drifted, with what
 *   differs);
 * - `acme/distinct`: every target at its own commit (the worst case: no two cells alike).
 * Each is timed as a whole request as a browser asks for it (Accept-Encoding with br and gzip: the
 * page comes compressed, its compression in the time; 10 runs after 2 warm-ups; median, p90) and
 * uncompressed, its size reported decoded and on the wire, split into the store's
 * query, the shaping (matrixModel) and the template (Eta), next to a baseline: the same store query answered
 * as JSON (what `stackpilot status --json`-style output costs, no HTML).
 *
 * The deployment page: one running deployment with 200 commands of ~2 KB output while a writer in
 * the same process appends a command every 20 ms (as a deployer in the App does); the page and its
 * event stream are asked 30 times each, TTFB reported (median, p90, max).
 *
 * The 500 KB counts what the browser downloads (on the wire); the decoded size is reported beside
 * it. Targets are reported, not asserted (exit 0). BENCH_KEEP=1 keeps .tmp/bench/ui.
 */

import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { join, resolve } from "node:path";
import { performance } from "node:perf_hooks";
import { githubHost } from "../src/github/api/githubHost.ts";
import { deployLockKey } from "../src/state/deployments.ts";
import type { LockInfo } from "../src/state/locks.ts";
import { type OpenStoreOptions, openDatabase, openStore, type Store } from "../src/state/store.ts";
import { matrixModel, type RepoFacts, targetKey } from "../src/ui/pages/matrixModel.ts";
import { renderPage } from "../src/ui/render.ts";
import { createUi } from "../src/ui/router.ts";
import { uiSettings } from "../src/ui/settings.ts";
import { startPostgres } from "../test/helpers/postgresServer.ts";
import { inScratchDir } from "./lib/scratch.ts";
import { fmtBytes, fmtMs, summarize, table } from "./lib/stats.ts";

const ROOT = resolve(import.meta.dirname, "..");
const TMP = join(ROOT, ".tmp", "bench", "ui");
const STACKS = 1000;
const HOSTS = 10;
const RUNS = 10;
const TARGET_MS = 200;
const TARGET_BYTES = 500 * 1024;
const TOKEN = "b".repeat(40);
/** What browsers send; `identity` asks for the page uncompressed. */
const BROWSER_ENCODINGS = "gzip, deflate, br, zstd";
const log = (s: string) => process.stderr.write(`${s}\n`);
type Location = Pick<OpenStoreOptions, "dataDir" | "databaseUrl">;

await inScratchDir(TMP, main);

async function main(): Promise<void> {
  await onBackend("PGlite", { dataDir: TMP });
  const pg = await startPostgres();
  try {
    await onBackend("Postgres", { dataDir: TMP, databaseUrl: await pg.createDatabase() });
  } finally {
    await pg.stop();
  }
}

async function onBackend(name: string, location: Location): Promise<void> {
  log(`${name}...`);
  (await openStore(location)).close(); // the schema
  await seed(location);
  const store = await openStore(location);
  const github = githubHost({});
  const ui = createUi({
    store,
    settings: uiSettings({ STACKPILOT_UI_TOKEN: TOKEN }, github),
    installation: () => Promise.reject(new Error("no GitHub in the benchmark")),
    mirrors: { ensure: () => Promise.reject(new Error("no mirrors in the benchmark")) },
    log: { info: () => {}, warn: log, error: log },
    live: { pollMs: 100 },
  });
  const server = createServer((req, res) => {
    const path = (req.url ?? "").split("?")[0] ?? "";
    void Promise.resolve(ui.handle(req, res, path)).then((claimed) => {
      if (!claimed) res.writeHead(404).end();
    });
  });
  // The runs are minutes apart at times (the in-process timings): keep the client's connection.
  server.keepAliveTimeout = 10 * 60_000;
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  try {
    await matrixBench(name, store, base, github.origin);
    await deploymentBench(name, store, base);
  } finally {
    ui.close();
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
    await store.close();
  }
}

/** 1,000 x 10 targets per repository: a last deployment each, what is deployed, a few locks. */
async function seed(location: Location): Promise<void> {
  const t = performance.now();
  const db = await openDatabase(location);
  try {
    // typical: a stack's hosts got its commit in one rollout (one age); distinct: each its own.
    for (const [repo, commit, age] of [
      ["acme/typical", "md5(s::text) || left(md5('c' || s), 8)", "hashtext(stack) & 4095"],
      ["acme/distinct", "md5(s || '-' || h) || left(md5('c' || s || '-' || h), 8)", "id % 5000"],
    ] as const) {
      await db.query(
        `INSERT INTO deployments (repo, stack, host, commit_sha, fingerprint, actor, trigger, status,
                                  environment, started_at, finished_at, commit_subject)
         SELECT $1, 'stack-' || lpad(s::text, 4, '0'), 'host-' || lpad(h::text, 2, '0'), ${commit},
                'f', 'octocat', 'merge', CASE WHEN (s * 10 + h) % 100 = 7 THEN 'failed' ELSE 'succeeded' END,
                CASE WHEN s % 4 = 0 THEN 'staging' ELSE 'production' END, now(), now(), 'Bump images'
           FROM generate_series(1, $2::int) s, generate_series(1, $3::int) h`,
        [repo, STACKS, HOSTS],
      );
      // What createDeployment writes with each deployment.
      await db.query(
        `INSERT INTO target_last (repo, stack, host, deployment_id, status, environment)
         SELECT DISTINCT ON (repo, stack, host) repo, stack, host, id, status, environment
           FROM deployments WHERE repo = $1 ORDER BY repo, stack, host, id DESC`,
        [repo],
      );
      await db.query(
        `INSERT INTO deployed (repo, stack, host, fingerprint, commit_sha, deployment_id, deployed_at, pinned)
         SELECT repo, stack, host, fingerprint, commit_sha, id, now() - (${age}) * interval '1 minute',
                id % 97 = 0
           FROM deployments WHERE repo = $1`,
        [repo],
      );
      await db.query(
        `INSERT INTO drift_checks (repo, stack, host, state, details, commit_sha, checked_at, since)
         SELECT repo, stack, host, CASE WHEN deployment_id % 100 = 42 THEN 'drifted' ELSE 'in_sync' END,
                CASE WHEN deployment_id % 100 = 42 THEN '["web: container missing", "db: image differs"]'::jsonb ELSE '[]'::jsonb END,
                commit_sha, now(), now()
           FROM deployed WHERE repo = $1`,
        [repo],
      );
      await db.query(
        `INSERT INTO locks (key, holder, acquired_at, heartbeat_at, expires_at)
         SELECT 'deploy:' || repo || ':' || stack || ':' || host, 'deploy ' || id, now(), now(), now() + interval '1 hour'
           FROM deployments WHERE repo = $1 AND id % 200 = 3`,
        [repo],
      );
    }
  } finally {
    await db.close();
  }
  log(`seeded 2 x ${STACKS} x ${HOSTS} targets in ${fmtMs(performance.now() - t)}`);
}

/** The median, the nearest-rank p90, the maximum. */
function quantiles(xs: readonly number[]): { p50: number; p90: number; max: number } {
  const s = [...xs].sort((a, b) => a - b);
  const p90 = s[Math.min(s.length - 1, Math.ceil(0.9 * s.length) - 1)] as number;
  return { p50: summarize(xs).median, p90, max: s[s.length - 1] as number };
}

/**
 * One request: `bytes` the page's size (fetch decodes it), `wireBytes` what crossed the wire
 * (the compressed body's content-length).
 */
async function get(
  url: string,
  acceptEncoding = BROWSER_ENCODINGS,
): Promise<{
  ms: number;
  ttfbMs: number;
  bytes: number;
  wireBytes: number;
  encoding: string;
  status: number;
}> {
  const t = performance.now();
  const res = await fetch(url, {
    signal: AbortSignal.timeout(60_000),
    headers: { authorization: `Bearer ${TOKEN}`, accept: "text/html", "accept-encoding": acceptEncoding },
  });
  const ttfbMs = performance.now() - t;
  const body = await res.arrayBuffer();
  return {
    ms: performance.now() - t,
    ttfbMs,
    bytes: body.byteLength,
    wireBytes: Number(res.headers.get("content-length") ?? body.byteLength),
    encoding: res.headers.get("content-encoding") ?? "identity",
    status: res.status,
  };
}

async function timed<T>(fn: () => Promise<T> | T): Promise<{ ms: number; value: T }> {
  const t = performance.now();
  const value = await fn();
  return { ms: performance.now() - t, value };
}

async function matrixBench(backend: string, store: Store, base: string, origin: string): Promise<void> {
  const rows: string[][] = [];
  for (const repo of ["acme/typical", "acme/distinct"]) {
    const url = `${base}/ui?repo=${encodeURIComponent(repo)}`;
    log(`matrix of ${repo}...`);
    for (let i = 0; i < 2; i++) await get(url);
    const http: number[] = [];
    const identity: number[] = [];
    let bytes = 0;
    let wire = "";
    let wireBytes = 0;
    // Compressed (as a browser asks) and uncompressed in turn, so that neither gets the quieter runs.
    for (let i = 0; i < RUNS; i++) {
      const r = await get(url);
      if (r.status !== 200) throw new Error(`GET /ui answered ${r.status}`);
      http.push(r.ms);
      bytes = r.bytes;
      wireBytes = r.wireBytes;
      wire = `${fmtBytes(r.wireBytes)} (${r.encoding})`;
      identity.push((await get(url, "identity")).ms);
    }
    // The same page to a client that takes gzip only.
    const gzip = await get(url, "gzip");
    const query: number[] = [];
    const shaping: number[] = [];
    const template: number[] = [];
    const baseline: number[] = [];
    let lockedCells = 0;
    for (let i = 0; i < RUNS; i++) {
      const q = await timed(() => store.targetsOverview(repo));
      query.push(q.ms);
      // As matrixPage.ts does: the held locks by target.
      const locks = new Map((await store.listLocks()).map((l) => [l.key, l]));
      const held = new Map<string, LockInfo>();
      for (const t of q.value) {
        const lock = locks.get(deployLockKey({ repo, stack: t.stack, host: t.host }));
        if (lock) held.set(targetKey(t.stack, t.host), lock);
      }
      lockedCells = held.size;
      const facts: RepoFacts[] = [{ repo, targets: q.value, locks: held }];
      const view = await timed(() => matrixModel(facts, { origin, now: Date.now() }));
      shaping.push(view.ms);
      template.push(
        (
          await timed(() =>
            renderPage(
              "matrix",
              { ...view.value, filters: { stack: "", host: "", repo }, repoChoices: [repo] },
              { title: "Stacks", who: "token holder" },
            ),
          )
        ).ms,
      );
      baseline.push((await timed(async () => JSON.stringify(await store.targetsOverview(repo)))).ms);
    }
    const h = quantiles(http);
    if (lockedCells === 0) throw new Error("the seeded locks do not read as deploy locks");
    rows.push([
      repo,
      fmtMs(h.p50),
      fmtMs(h.p90),
      fmtMs(quantiles(query).p50),
      fmtMs(quantiles(shaping).p50),
      fmtMs(quantiles(template).p50),
      fmtMs(quantiles(baseline).p50),
      fmtMs(quantiles(identity).p50),
      fmtBytes(bytes),
      wire,
      `${fmtBytes(gzip.wireBytes)} (${gzip.encoding})`,
      `${h.p50 <= TARGET_MS ? "ok" : "MISSED"} / ${wireBytes <= TARGET_BYTES ? "ok" : "MISSED"} on the wire, ${bytes <= TARGET_BYTES ? "ok" : "MISSED"} uncompressed`,
    ]);
  }
  console.log(`### ${backend}: matrix, ${STACKS} stacks x ${HOSTS} hosts (GET /ui, median of ${RUNS})\n`);
  console.log(
    table(
      [
        "repository",
        "request p50",
        "request p90",
        "store query p50",
        "shaping (model) p50",
        "template (Eta) p50",
        "baseline: query as JSON p50",
        "request p50, uncompressed",
        "page size",
        "on the wire (browser)",
        "on the wire (gzip only)",
        `target ${TARGET_MS} ms / ${fmtBytes(TARGET_BYTES)}`,
      ],
      rows,
    ),
  );
}

/** TTFB of a running deployment's page and its event stream while its deployer writes. */
async function deploymentBench(backend: string, store: Store, base: string): Promise<void> {
  const id = await store.createDeployment({
    repo: "acme/typical",
    stack: "stack-0001",
    host: "host-01",
    commit: "a".repeat(40),
    fingerprint: "f",
    actor: "octocat",
    trigger: "merge",
    environment: "production",
    reasons: ["compose.yaml changed"],
    commitSubject: "Bump images",
  });
  await store.startDeployment(id);
  const output = "pulling layer 0123456789abcdef: done\n".repeat(55);
  for (let i = 0; i < 200; i++)
    await store.appendCommandLog(id, { command: `docker compose up -d #${i}`, code: 0, output });
  let writing = true;
  let appended = 0;
  const writer = (async () => {
    while (writing) {
      await store.appendCommandLog(id, { command: `docker compose ps #${appended++}`, code: 0, output });
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  const page: number[] = [];
  const events: number[] = [];
  let pageBytes = 0;
  try {
    log("a running deployment...");
    for (let i = 0; i < 3; i++) await get(`${base}/ui/deployments/${id}`);
    for (let i = 0; i < 30; i++) {
      const r = await get(`${base}/ui/deployments/${id}`);
      if (r.status !== 200) throw new Error(`the deployment page answered ${r.status}`);
      page.push(r.ttfbMs);
      pageBytes = r.bytes;
      const ac = new AbortController();
      const t = performance.now();
      const res = await fetch(`${base}/ui/deployments/${id}/events`, {
        headers: { authorization: `Bearer ${TOKEN}`, accept: "text/event-stream" },
        signal: ac.signal,
      });
      const reader = res.body?.getReader();
      await reader?.read(); // the first event: the stream is open
      events.push(performance.now() - t);
      ac.abort();
      await reader?.cancel().catch(() => {});
    }
  } finally {
    writing = false;
    await writer;
  }
  const p = quantiles(page);
  const e = quantiles(events);
  console.log(
    `\n### ${backend}: a running deployment (200 commands of ${fmtBytes(output.length)} output, one more every 20 ms; ${appended} appended during the runs)\n`,
  );
  console.log(
    table(
      ["request (30 runs)", "TTFB p50", "TTFB p90", "TTFB max", "size"],
      [
        [`GET /ui/deployments/${id}`, fmtMs(p.p50), fmtMs(p.p90), fmtMs(p.max), fmtBytes(pageBytes)],
        [`GET /ui/deployments/${id}/events (first event)`, fmtMs(e.p50), fmtMs(e.p90), fmtMs(e.max), "-"],
      ],
    ),
  );
}
