/**
 * Footprint benchmark. Targets, against `stackpilot plan` on the same repository in the same run:
 * `stackpilot status` at most 2x the plan's time and at most 250 MB peak; the first command on a
 * fresh data dir (`deploy --dry-run`) at most 300 MB peak; the App from spawn to ready (`/readyz`
 * 200) at most 3 s; the App's idle RSS reported, on PGlite and on DATABASE_URL. Also: `/metrics`
 * scrape times, idle and during a webhook storm (jobs failing and retried, as with GitHub down),
 * with `/healthz` times alongside (an event loop a scrape blocked would show there).
 *
 * Every command is the CLI as run (`node bin/stackpilot.js`, dist/), its own process, timed by the
 * parent and its peak RSS read by GNU time; runs of the different commands alternate, so a noisy
 * machine weighs on all of them alike. Medians, with min-max.
 *
 * Knobs (environment): BENCH_FOOTPRINT_RUNS (default 5), BENCH_FOOTPRINT_BASE=<git ref> measures
 * that commit's code too, in the same run (extracted with git archive, built with its own `npm run
 * build`), BENCH_FOOTPRINT_POSTGRES=0 skips DATABASE_URL, BENCH_FOOTPRINT_STORM_S (default 20),
 * BENCH_KEEP=1 keeps .tmp/bench/footprint.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { performance } from "node:perf_hooks";
import { type PostgresServer, startPostgres } from "../test/helpers/postgresServer.ts";
import { APP_SECRET, startApp } from "./footprintLib/appProcess.ts";
import { type Measured, measure } from "./footprintLib/measure.ts";
import { inScratchDir } from "./lib/scratch.ts";
import { fmtMs, fmtRatio, fmtS, summarize, table } from "./lib/stats.ts";
import { buildStream, quantile, runOpenLoop } from "./webhooksLib/load.ts";

const ROOT = resolve(import.meta.dirname, "..");
const TMP = join(ROOT, ".tmp", "bench", "footprint");
const RUNS = Number(process.env.BENCH_FOOTPRINT_RUNS ?? 5);
const BASE_REF = process.env.BENCH_FOOTPRINT_BASE;
const STORM_S = Number(process.env.BENCH_FOOTPRINT_STORM_S ?? 20);
const REPO_ID = "acme/infra";

const log = (s: string) => process.stderr.write(`${s}\n`);
const mb = (kb: number) => `${(kb / 1024).toFixed(0)} MB`;

interface Code {
  name: string;
  root: string;
}

await inScratchDir(TMP, main);

async function main(): Promise<void> {
  const repo = join(TMP, "repo");
  execFileSync("sh", [join(ROOT, "fixtures", "build-monorepo.sh"), repo], { stdio: "ignore" });
  execFileSync("git", ["remote", "add", "origin", `https://github.example/${REPO_ID}.git`], { cwd: repo });
  const hostsFile = join(TMP, "hosts.yml");
  writeFileSync(
    hostsFile,
    JSON.stringify({
      hosts: ["app-1", "app-2", "edge-1"].map((name, i) => ({
        name,
        address: `192.0.2.${11 + i}`,
        user: "deploy",
        labels: { role: name.startsWith("edge") ? "edge" : "app" },
        key: { env: "BENCH_NO_KEY" },
        trust_on_first_use: true,
      })),
    }),
  );
  const codes: Code[] = [{ name: "this code", root: ROOT }];
  if (BASE_REF) codes.push({ name: `base ${BASE_REF}`, root: buildBase(BASE_REF) });

  const cli = (code: Code, ...args: string[]) => [
    process.execPath,
    join(code.root, "bin", "stackpilot.js"),
    ...args,
  ];
  const results = new Map<string, Measured[]>();
  const record = (key: string, m: Measured) => results.set(key, [...(results.get(key) ?? []), m]);
  for (const code of codes) {
    const data = join(TMP, `state-${codes.indexOf(code)}`);
    execFileSync(process.execPath, [
      join(import.meta.dirname, "footprintLib", "seedState.js"),
      code.root,
      data,
      REPO_ID,
    ]);
  }
  for (let run = 0; run < RUNS; run++) {
    log(`CLI run ${run + 1}/${RUNS}`);
    for (const [i, code] of codes.entries()) {
      const { DATABASE_URL: _embedded, ...env } = process.env;
      record(`plan ${i}`, await measure(cli(code, "plan", "--json"), { cwd: repo, env }));
      record(
        `status ${i}`,
        await measure(cli(code, "status", "--data", join(TMP, `state-${i}`)), { cwd: repo, env }),
      );
      const fresh = join(TMP, `fresh-${i}-${run}`);
      record(
        `fresh ${i}`,
        await measure(cli(code, "deploy", "--dry-run", "--hosts", hostsFile, "--data", fresh), {
          cwd: repo,
          env,
        }),
      );
    }
  }
  for (const [key, ms] of results) {
    const bad = ms.find((m) => m.code !== 0 && !(key.startsWith("fresh") && m.code === 1));
    if (bad) throw new Error(`${key} exited ${bad.code}:\n${bad.stderr.slice(-2000)}`);
  }

  let postgres: PostgresServer | undefined;
  if (process.env.BENCH_FOOTPRINT_POSTGRES !== "0") postgres = await startPostgres();
  const apps: {
    code: number;
    backend: string;
    state: string;
    ready: number[];
    health: number[];
    rss: number[];
    peak: number[];
  }[] = [];
  try {
    for (let run = 0; run < Math.max(3, Math.ceil(RUNS / 2)); run++) {
      log(`App run ${run + 1}`);
      for (const [i, code] of codes.entries()) {
        // The "used before" start reopens the data dir this run's first start made.
        const variants: [string, string, Record<string, string>][] = [
          ["PGlite", "new data dir", { STACKPILOT_DATA_DIR: join(TMP, `app-${i}-${run}`) }],
          ["PGlite", "data dir used before", { STACKPILOT_DATA_DIR: join(TMP, `app-${i}-${run}`) }],
        ];
        if (postgres)
          variants.push([
            "DATABASE_URL",
            "new database",
            {
              STACKPILOT_DATA_DIR: join(TMP, `app-pg-${i}-${run}`),
              DATABASE_URL: await postgres.createDatabase(),
            },
          ]);
        for (const [backend, state, env] of variants) {
          const app = await startApp(code.root, env);
          await new Promise((r) => setTimeout(r, 10_000));
          const { rssKb, peakKb } = app.memory();
          await app.stop();
          const key = (x: (typeof apps)[number]) =>
            x.code === i && x.backend === backend && x.state === state;
          const row = apps.find(key) ?? { code: i, backend, state, ready: [], health: [], rss: [], peak: [] };
          if (!apps.includes(row)) apps.push(row);
          row.ready.push(app.readyMs);
          if (app.healthMs !== undefined) row.health.push(app.healthMs);
          row.rss.push(rssKb);
          row.peak.push(peakKb);
        }
      }
    }
  } finally {
    await postgres?.stop();
  }
  const scrapes = await scrapeTimes();
  report(codes, results, apps, scrapes);
}

/** The base commit's code beside ours: its files, our node_modules (a superset), its own build. */
function buildBase(ref: string): string {
  const dir = join(TMP, "base");
  mkdirSync(dir, { recursive: true });
  const tar = execFileSync("git", ["archive", "--format=tar", ref], { cwd: ROOT, maxBuffer: 1 << 30 });
  execFileSync("tar", ["-x", "-C", dir], { input: tar });
  symlinkSync(join(ROOT, "node_modules"), join(dir, "node_modules"));
  log(`building ${ref} in ${dir}`);
  const built = spawnSync("npm", ["run", "build"], { cwd: dir, stdio: ["ignore", "ignore", "inherit"] });
  if (built.status !== 0) throw new Error(`building ${ref} failed`);
  return dir;
}

interface Scrapes {
  idle: number[];
  storm: number[];
  healthIdle: number[];
  healthStorm: number[];
  deliveries: number;
  accepted: number;
  bytes: number;
}

/** /metrics and /healthz times, idle and while webhooks pour in (this code only). */
async function scrapeTimes(): Promise<Scrapes> {
  const app = await startApp(ROOT, { STACKPILOT_DATA_DIR: join(TMP, "app-scrape") });
  try {
    const get = async (path: string) => {
      const t = performance.now();
      const res = await fetch(`http://127.0.0.1:${app.port}${path}`);
      const body = await res.text();
      if (res.status !== 200) throw new Error(`${path}: ${res.status} ${body}`);
      return { ms: performance.now() - t, bytes: body.length };
    };
    const sample = async (until: () => boolean) => {
      const scrape: number[] = [];
      const health: number[] = [];
      let bytes = 0;
      await Promise.all([
        (async () => {
          while (!until()) {
            const r = await get("/metrics");
            scrape.push(r.ms);
            bytes = r.bytes;
            await new Promise((r) => setTimeout(r, 250));
          }
        })(),
        (async () => {
          while (!until()) {
            health.push((await get("/healthz")).ms);
            await new Promise((r) => setTimeout(r, 100));
          }
        })(),
      ]);
      return { scrape, health, bytes };
    };
    const idleEnd = performance.now() + 5_000;
    const idle = await sample(() => performance.now() > idleEnd);
    const rate = 50;
    const stream = buildStream({ count: STORM_S * rate, secret: APP_SECRET, seed: 11 });
    let done = false;
    const storm = sample(() => done);
    const { outcomes } = await runOpenLoop(app.port, stream, 1000 / rate);
    done = true;
    const during = await storm;
    return {
      idle: idle.scrape,
      healthIdle: idle.health,
      storm: during.scrape,
      healthStorm: during.health,
      deliveries: stream.length,
      accepted: outcomes.filter((o) => o.status === 200).length,
      bytes: during.bytes,
    };
  } finally {
    await app.stop();
  }
}

function report(
  codes: Code[],
  results: Map<string, Measured[]>,
  apps: {
    code: number;
    backend: string;
    state: string;
    ready: number[];
    health: number[];
    rss: number[];
    peak: number[];
  }[],
  scrapes: Scrapes,
): void {
  const span = (xs: number[], f: (x: number) => string) => {
    const s = summarize(xs);
    return `${f(s.median)} (${f(s.min)}-${f(s.max)})`;
  };
  const median = (xs: number[]) => summarize(xs).median;
  const rows: string[][] = [];
  for (const [i, code] of codes.entries()) {
    const of = (k: string) => results.get(`${k} ${i}`) ?? [];
    const planMs = median(of("plan").map((m) => m.ms));
    for (const [label, key, target] of [
      ["`stackpilot plan --json` (the yardstick)", "plan", ""],
      ["`stackpilot status`", "status", "<= 2x plan, <= 250 MB"],
      ["first command on a fresh data dir (`deploy --dry-run`)", "fresh", "<= 300 MB"],
    ] as const) {
      const ms = of(key).map((m) => m.ms);
      const peak = of(key).map((m) => m.peakKb);
      const ratio = median(ms) / planMs;
      const met =
        key === "status"
          ? ratio <= 2 && Math.max(...peak) <= 250 * 1024
          : key === "fresh"
            ? Math.max(...peak) <= 300 * 1024
            : undefined;
      rows.push([
        code.name,
        label,
        span(ms, fmtS),
        key === "plan" ? "1x" : fmtRatio(ratio),
        span(peak, mb),
        target,
        met === undefined ? "-" : met ? "yes" : "no",
      ]);
    }
  }
  console.log(`\nCLI (${RUNS} runs each, alternating; medians (min-max)):\n`);
  console.log(table(["Code", "Command", "Time", "vs plan", "Peak RSS", "Target", "Met?"], rows));

  console.log("\nThe App (`node dist/github/server.js`, GitHub unreachable; idle = 10 s after ready):\n");
  console.log(
    table(
      [
        "Code",
        "Database",
        "Start",
        "Spawn to /healthz",
        "Spawn to ready",
        "Idle RSS",
        "Peak RSS",
        "Target",
        "Met?",
      ],
      apps.map((a) => [
        (codes[a.code] as Code).name,
        a.backend,
        a.state,
        a.health.length ? span(a.health, fmtS) : "-",
        span(a.ready, fmtS),
        span(a.rss, mb),
        span(a.peak, mb),
        "ready <= 3 s",
        Math.max(...a.ready) <= 3000 ? "yes" : median(a.ready) <= 3000 ? "median" : "no",
      ]),
    ),
  );
  const q = (xs: number[]) => {
    const s = [...xs].sort((a, b) => a - b);
    return `p50 ${fmtMs(quantile(s, 0.5))}, p99 ${fmtMs(quantile(s, 0.99))}, max ${fmtMs(s.at(-1) ?? Number.NaN)} (${s.length})`;
  };
  console.log(
    `\n/metrics (${(scrapes.bytes / 1024).toFixed(1)} KiB): idle ${q(scrapes.idle)}; during ${scrapes.deliveries} webhooks at 50/s (${scrapes.accepted} accepted) ${q(scrapes.storm)}`,
  );
  console.log(
    `/healthz alongside: idle ${q(scrapes.healthIdle)}; during the storm ${q(scrapes.healthStorm)}`,
  );
  if (!existsSync(join(ROOT, "dist", "pglite-template.tar.gz")))
    console.log(
      "\nnote: dist/pglite-template.tar.gz is missing (npm run build makes it): fresh data dirs ran initdb",
    );
}
