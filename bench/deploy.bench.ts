/**
 * Deploy benchmark, on real test hosts (test/e2e/harness: sshd + dockerd per host; needs root and
 * `bash test/e2e/harness/install.sh`). Requirements (reported, not asserted; exit 0 unless the
 * benchmark itself breaks):
 *
 * 1. One changed stack to 10 hosts: wall time <= 1.2x the slowest single host's raw
 *    `ssh host 'cd dir && docker-compose -p P up -d'` of an equivalent change, same run.
 *    Stackpilot = the product path as `stackpilot deploy` wires it (state store on PGlite, a fresh
 *    SshPool, planRange, runPlan, HostDeployer): lock, upload, switch, up, health wait, prune.
 *    Baseline = the system ssh client on all 10 hosts at once (what a parallel ssh loop does;
 *    the hosts share this machine's CPUs, as Stackpilot's deploys do), slowest host per round.
 *    Also shown: the baseline one host at a time (no CPU contention between hosts) and the CLI
 *    run in-process (`main(["deploy", ...])`, which also opens the database).
 * 2. 20 stacks x 3 hosts deployed, then a commit that changes no stack: the decision (state,
 *    plan, orchestrator with nothing to do) in <= 1 s, with 0 remote commands sent.
 * 3. Bytes uploaded per deploy vs what a `git clone` of the repository transfers / occupies, for
 *    the fixture monorepo and for the bigger synthetic repo of part 2.
 *
 * Knobs (environment): BENCH_ROUNDS (part 1 rounds, default 5), BENCH_ISO_ROUNDS (rounds that
 * also time the one-host-at-a-time baseline, default 2), BENCH_CLI_RUNS (default 2),
 * BENCH_NOCHANGE_RUNS (default 7), BENCH_PARTS ("1", "2,3"; 2 and 3 run together; default all),
 * what-ifs for part 1: BENCH_COMPOSE (hosts file `compose:`, default auto) and BENCH_TOTAL
 * (runPlan's total concurrency, default runPlan's); BENCH_KEEP=1 keeps the temp dir;
 * BENCH_CPU_PROFILE=<dir> writes a V8 CPU profile of the deployer per product run.
 *
 *   node_modules/.bin/node bench/deploy.bench.ts      (~3.5 min on 2 CPUs; as root)
 */

import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, loadavg, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { performance } from "node:perf_hooks";
import { repoIdentity } from "../src/cli/repoIdentity.ts";
import { type HostConfig, loadInventory } from "../src/config/hostsFile.ts";
import { GitRepo } from "../src/git/repo.ts";
import { openStore, type Store } from "../src/state/store.ts";
import { type Harness, hostEntry, startHarness, type TestHost } from "../test/e2e/harness/harness.ts";
import { deployArgs, runCli } from "../test/helpers/cli.ts";
import { breakdown } from "./deployLib/analysis.ts";
import { expectAllSucceeded, type ProductContext, type ProductRun, productRun } from "./deployLib/product.ts";
import {
  appCompose,
  baselineCompose,
  buildManyStacksRepo,
  buildOneStackRepo,
  type CloneSize,
  cloneSize,
  commit,
} from "./deployLib/repos.ts";
import { baselineCommand, check, type SshTiming, sshRun, writeKnownHosts } from "./deployLib/sshBaseline.ts";
import {
  fmtBytes,
  fmtMs,
  fmtRatio,
  fmtSample,
  machineBusyMs,
  max,
  median,
  table,
} from "./deployLib/stats.ts";

const ROOT = resolve(import.meta.dirname, "..");
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const ISO_ROUNDS = Number(process.env.BENCH_ISO_ROUNDS ?? 2);
const CLI_RUNS = Number(process.env.BENCH_CLI_RUNS ?? 2);
const NOCHANGE_RUNS = Number(process.env.BENCH_NOCHANGE_RUNS ?? 7);
const HOSTS = 10;
/** Which parts to run, e.g. "1" or "2,3" (default all). */
const PARTS = new Set((process.env.BENCH_PARTS ?? "1,2,3").split(",").map((p) => p.trim()));
/** Hosts file `compose` for part 1 (default: unset, i.e. auto-detection as in a plain hosts file). */
const COMPOSE = process.env.BENCH_COMPOSE;
/** runPlan's total concurrency for part 1 (default: unset, runPlan's default, as the CLI runs it). */
const TOTAL = process.env.BENCH_TOTAL ? Number(process.env.BENCH_TOTAL) : undefined;

const TARGET_RATIO = 1.2;
const TARGET_NOCHANGE_MS = 1000;

const started = performance.now();
const loadAtStart = loadavg()[0] as number;
const log = (s: string) =>
  process.stderr.write(`[deploy.bench ${((performance.now() - started) / 1000).toFixed(1)} s] ${s}\n`);
const yes = (ok: boolean) => (ok ? "yes" : "NO");

type Row = [metric: string, stackpilot: string, baseline: string, ratio: string, target: string, met: string];
const rows: Row[] = [];
const details: string[] = [];

const tmp = mkdtempSync(join(tmpdir(), "sp-bench-deploy-"));
let harness: Harness | undefined;
for (const sig of ["SIGINT", "SIGTERM"] as const) {
  process.once(sig, () => {
    log(`${sig}: stopping the harness`);
    // process.exit runs the harness's exit hook too (a synchronous `harness.sh down`).
    void (harness?.stop() ?? Promise.resolve()).finally(() => process.exit(130));
  });
}

try {
  log("starting the harness (10 hosts)");
  const t = performance.now();
  harness = await startHarness({ hosts: HOSTS });
  log(`harness up in ${fmtMs(performance.now() - t)}`);
  if (PARTS.has("1")) await part1(harness);
  if (PARTS.has("2") || PARTS.has("3")) await part2and3(harness);
} finally {
  const t = performance.now();
  await harness?.stop();
  log(`harness stopped in ${fmtMs(performance.now() - t)}`);
  if (process.env.BENCH_KEEP !== "1") rmSync(tmp, { recursive: true, force: true });
  else log(`kept ${tmp}`);
}

console.log(`\n${details.join("\n\n")}\n`);
console.log(table(["metric", "stackpilot", "baseline", "ratio", "target", "met?"], rows));
console.log(
  `\ndeploy benchmark: ${((performance.now() - started) / 1000).toFixed(1)} s in total. ` +
    `1-min load average at the start: ${loadAtStart.toFixed(2)} on ${availableParallelism()} CPUs ` +
    `(the rounds drive it to ~10 themselves; well above 1 at the start means other work was running: re-run).`,
);
process.exit(0);

// ---------------------------------------------------------------------------------------------

/** `extra[i]`: more keys of host i's entry (labels, builder). */
function hostsFileFor(
  path: string,
  hosts: readonly TestHost[],
  extra: Record<string, unknown>[] = [],
  compose?: string,
): string {
  const list = hosts.map((t, i) => hostEntry(t, { ...extra[i], ...(compose ? { compose } : {}) }));
  writeFileSync(path, JSON.stringify({ hosts: list }, null, 2)); // JSON is YAML
  return path;
}

async function context(
  dir: string,
  repoDir: string,
  hostsFile: string,
): Promise<{ ctx: ProductContext; hosts: HostConfig[]; dataDir: string }> {
  const { hosts, registries } = await loadInventory(hostsFile);
  const repo = new GitRepo(repoDir);
  const dataDir = join(dir, "data");
  mkdirSync(dataDir, { recursive: true });
  const store = await openStore({ dataDir });
  return {
    ctx: { repo, repoId: await repoIdentity(repo), hosts, registries, store, dataDir, healthTimeoutS: 60 },
    hosts,
    dataDir,
  };
}

async function cli(argv: string[]): Promise<{ code: number; out: string; err: string; ms: number }> {
  const t0 = performance.now();
  const result = await runCli(...argv);
  return { ...result, ms: performance.now() - t0 };
}

// --- 1. one changed stack to 10 hosts -------------------------------------------------------------

async function part1(h: Harness): Promise<void> {
  const dir = join(tmp, "p1");
  const repoDir = join(dir, "repo");
  mkdirSync(dir, { recursive: true });
  let head = buildOneStackRepo(repoDir);
  const hostsFile = hostsFileFor(join(dir, "hosts.yml"), h.hosts, [], COMPOSE);
  const { ctx, dataDir } = await context(dir, repoDir, hostsFile);
  if (TOTAL) ctx.concurrency = { total: TOTAL };
  const known = writeKnownHosts(join(dir, "known_hosts"), h.hosts);
  const baseDir = (t: TestHost) => `${t.home}/bench-base`;
  let store: Store | undefined = ctx.store;
  try {
    log("part 1: first deploy of the stack to 10 hosts (untimed) and baseline set-up");
    const first = await productRun(ctx, head);
    expectAllSucceeded(first, "part 1 first deploy", HOSTS);
    await Promise.all(
      h.hosts.map(async (t) => {
        const r = await h.exec(
          t,
          ["sh", "-c", `mkdir -p ${baseDir(t)} && cat > ${baseDir(t)}/compose.yaml`],
          {
            input: baselineCompose,
          },
        );
        if (r.code !== 0) throw new Error(`baseline set-up on ${t.name}: ${r.stderr}`);
      }),
    );
    /** Machine CPU (all processes) spent by each parallel baseline round. */
    const baseCpu: number[] = [];
    const parallelBaseline = async (round: string): Promise<SshTiming[]> => {
      const cpu0 = machineBusyMs();
      const timings = await Promise.all(
        h.hosts.map((t) => sshRun(t, known, baselineCommand(baseDir(t), "benchbase", round))),
      );
      baseCpu.push(machineBusyMs() - cpu0);
      return timings.map((x) => check(x, "baseline"));
    };
    await parallelBaseline("0"); // creates the containers: every timed round is a recreate
    baseCpu.length = 0;

    const runs: ProductRun[] = [];
    const base: number[] = [];
    const iso: number[] = [];
    const ratios: number[] = [];
    for (let r = 1; r <= ROUNDS; r++) {
      head = commit(repoDir, { "stacks/app/compose.yaml": appCompose(String(r)) }, `round ${r}`);
      let run: ProductRun;
      let b: SshTiming[];
      // Alternate the order, so neither side always runs second (caches, drift).
      if (r % 2) {
        b = await parallelBaseline(String(r));
        run = await productRun(ctx, head);
      } else {
        run = await productRun(ctx, head);
        b = await parallelBaseline(String(r));
      }
      expectAllSucceeded(run, `part 1 round ${r}`, HOSTS);
      if (run.plan.summary.deploy !== HOSTS)
        throw new Error(`round ${r}: plan deploys ${run.plan.summary.deploy}`);
      runs.push(run);
      const slowest = max(b.map((x) => x.ms));
      base.push(slowest);
      ratios.push(run.wallMs / slowest);
      let isoNote = "";
      if (r <= ISO_ROUNDS) {
        const one: number[] = [];
        for (const t of h.hosts) {
          one.push(
            check(await sshRun(t, known, baselineCommand(baseDir(t), "benchbase", `${r}i`)), "baseline").ms,
          );
        }
        iso.push(max(one));
        isoNote = `, one host at a time: slowest ${fmtMs(max(one))}, median ${fmtMs(median(one))}`;
      }
      log(
        `part 1 round ${r}: stackpilot ${fmtMs(run.wallMs)} (plan ${fmtMs(run.planMs)}, runPlan ${fmtMs(run.runMs)}); ` +
          `baseline slowest of 10 in parallel ${fmtMs(slowest)} (median host ${fmtMs(median(b.map((x) => x.ms)))})${isoNote}`,
      );
    }

    // The CLI in-process: opens the database each time, renders the plan and the summary.
    await ctx.store.close();
    store = undefined;
    const cliMs: number[] = [];
    const cliBase: number[] = [];
    for (let c = 1; c <= CLI_RUNS; c++) {
      head = commit(repoDir, { "stacks/app/compose.yaml": appCompose(`cli${c}`) }, `cli ${c}`);
      const b = await parallelBaseline(`cli${c}`);
      const res = await cli(
        deployArgs({ repo: repoDir, hosts: hostsFile, data: dataDir, healthTimeoutS: 60 }),
      );
      if (res.code !== 0 || !/10 succeeded, 0 failed/.test(res.out)) {
        throw new Error(`CLI deploy failed (exit ${res.code}):\n${res.out}\n${res.err}`);
      }
      cliMs.push(res.ms);
      cliBase.push(max(b.map((x) => x.ms)));
      log(`part 1 CLI run ${c}: ${fmtMs(res.ms)}; baseline slowest ${fmtMs(max(b.map((x) => x.ms)))}`);
    }

    const wall = runs.map((r) => r.wallMs);
    const ratio = median(ratios);
    rows.push([
      "1. one changed stack -> 10 hosts, wall (plan + deploy, fresh SSH)",
      fmtSample(wall),
      `${fmtSample(base)} slowest host, 10 ssh in parallel`,
      fmtRatio(ratio),
      `<= ${TARGET_RATIO}x`,
      yes(ratio <= TARGET_RATIO),
    ]);
    if (iso.length) {
      const isoRatio = median(runs.slice(0, iso.length).map((r, i) => r.wallMs / (iso[i] as number)));
      rows.push([
        "   same, vs baseline one host at a time (no CPU sharing)",
        fmtSample(wall.slice(0, iso.length)),
        `${fmtSample(iso)} slowest host, sequential`,
        fmtRatio(isoRatio),
        "(info)",
        "",
      ]);
    }
    if (cliMs.length) {
      const cliRatio = median(cliMs.map((m, i) => m / (cliBase[i] as number)));
      rows.push([
        "   same, CLI main(['deploy']) in-process (+ DB open, render)",
        fmtSample(cliMs),
        `${fmtSample(cliBase)} slowest host, parallel`,
        fmtRatio(cliRatio),
        "(info)",
        "",
      ]);
    }
    const b = breakdown(runs);
    const cpuRows = [
      [
        "deployer process (this Node: plan, ssh2, PGlite, git archive spawns)",
        fmtMs(median(runs.map((r) => r.cpuMs))),
        "-",
      ],
      [
        "whole machine (deployer + 10 hosts' sshd, docker, compose, containers)",
        fmtMs(median(runs.map((r) => r.machineCpuMs))),
        fmtMs(median(baseCpu.slice(0, ROUNDS))),
      ],
    ];
    details.push(
      `### 1. Where the time goes (${runs.length} rounds x ${HOSTS} hosts; median per-round ratio ${fmtRatio(ratio)}, ` +
        `ratio of medians ${fmtRatio(median(wall) / median(base))})\n\n` +
        `All 10 "hosts" share this machine's ${availableParallelism()} CPUs, so a round is CPU-bound: wall time follows the CPU ` +
        `work done, wherever it runs. CPU per round (median; the machine figure includes anything else running on it):\n\n` +
        `${table(["CPU time per round", "stackpilot", "baseline"], cpuRows)}\n\n${b.text}`,
    );
  } finally {
    await store?.close();
  }
}

// --- 2. 20 stacks x 3 hosts, nothing changed; 3. upload bytes vs clone ----------------------------

async function part2and3(h: Harness): Promise<void> {
  // 2.
  const dir = join(tmp, "p2");
  const repoDir = join(dir, "repo");
  mkdirSync(dir, { recursive: true });
  log("part 2: building the synthetic repo (20 stacks + an app monorepo with history)");
  const synth = buildManyStacksRepo(repoDir, { stacks: 20, appFiles: 800, history: 30, editsPerCommit: 40 });
  const three = h.hosts.slice(0, 3);
  const hostsFile = hostsFileFor(join(dir, "hosts.yml"), three);
  const { ctx, dataDir } = await context(dir, repoDir, hostsFile);
  let store: Store | undefined = ctx.store;
  const synthUploads: { stack: string; host: string; bytes: number }[] = [];
  try {
    log("part 2: deploying 20 stacks x 3 hosts (untimed)");
    const t = performance.now();
    const first = await productRun(ctx, synth.head);
    expectAllSucceeded(first, "part 2 first deploy", 60);
    log(`part 2: 60 deploys in ${fmtMs(performance.now() - t)}`);
    for (const j of first.results)
      synthUploads.push({ stack: j.stack, host: j.host, bytes: j.uploadBytes ?? 0 });

    const head = commit(repoDir, { "README.md": "# bench\n\nA change outside every stack.\n" }, "docs only");
    const wall: number[] = [];
    const phases = { state: [] as number[], plan: [] as number[], run: [] as number[] };
    let commands = 0;
    let connects = 0;
    for (let i = 1; i <= NOCHANGE_RUNS; i++) {
      const run = await productRun(ctx, head);
      const s = run.plan.summary;
      if (s.deploy !== 0 || s.remove !== 0 || s.skip !== 60 || run.results.length !== 0) {
        throw new Error(`part 2: expected 0 deploy, 0 remove, 60 skip; got ${JSON.stringify(s)}`);
      }
      wall.push(run.wallMs);
      phases.state.push(run.stateMs);
      phases.plan.push(run.planMs);
      phases.run.push(run.runMs);
      commands += run.calls;
      connects += run.connects;
    }
    log(
      `part 2: no-change decision ${fmtSample(wall)}, ${commands} remote commands, ${connects} connections`,
    );
    rows.push([
      "2. 20 stacks x 3 hosts, nothing changed: decision time",
      fmtSample(wall),
      "",
      "",
      `<= ${fmtMs(TARGET_NOCHANGE_MS)}`,
      yes(median(wall) <= TARGET_NOCHANGE_MS),
    ]);
    rows.push([
      `   remote commands sent (all ${NOCHANGE_RUNS} runs)`,
      String(commands),
      "",
      "",
      "0",
      yes(commands === 0),
    ]);
    rows.push([
      `   SSH connections opened (all ${NOCHANGE_RUNS} runs)`,
      String(connects),
      "",
      "",
      "(info)",
      "",
    ]);

    await ctx.store.close();
    store = undefined;
    const cliMs: number[] = [];
    for (let i = 0; i < 3; i++) {
      const res = await cli(deployArgs({ repo: repoDir, hosts: hostsFile, data: dataDir }));
      if (res.code !== 0 || !res.out.includes("0 deploy, 0 remove, 60 skip")) {
        throw new Error(`CLI no-change run: exit ${res.code}\n${res.out}\n${res.err}`);
      }
      cliMs.push(res.ms);
    }
    rows.push([
      "   same, CLI main(['deploy']) in-process (+ DB open)",
      fmtSample(cliMs),
      "",
      "",
      `(info) <= ${fmtMs(TARGET_NOCHANGE_MS)}`,
      yes(median(cliMs) <= TARGET_NOCHANGE_MS),
    ]);
    details.push(
      `### 2. No-change run, phases (median of ${NOCHANGE_RUNS})\n\n${table(
        ["phase", "time"],
        [
          ["state (recoverInterrupted + getDeployed: 60 records)", fmtMs(median(phases.state))],
          ["plan (planRange: diff, ls-tree, 2 snapshots, buildPlan)", fmtMs(median(phases.plan))],
          ["runPlan with nothing to do", fmtMs(median(phases.run))],
          ["total", fmtMs(median(wall))],
        ],
      )}`,
    );
  } finally {
    await store?.close();
  }

  // 3.
  log("part 3: fixture monorepo deploy (2 hosts: app + edge) and clone sizes");
  const fdir = join(tmp, "p3");
  const fixture = join(fdir, "repo");
  mkdirSync(fdir, { recursive: true });
  execFileSync("sh", [join(ROOT, "fixtures/build-monorepo.sh"), fixture]);
  const pair = h.hosts.slice(3, 5);
  // The app host builds the fixture's webapp image too: its only host, so no registry is needed.
  const fhosts = hostsFileFor(join(fdir, "hosts.yml"), pair, [
    { labels: { role: "app" }, builder: true },
    { labels: { role: "edge" } },
  ]);
  const f = await context(fdir, fixture, fhosts);
  const fixtureUploads: { stack: string; host: string; bytes: number }[] = [];
  try {
    const fhead = execFileSync("git", ["rev-parse", "HEAD"], { cwd: fixture, encoding: "utf8" }).trim();
    const run = await productRun(f.ctx, fhead);
    expectAllSucceeded(run, "fixture deploy");
    for (const j of run.results)
      fixtureUploads.push({ stack: j.stack, host: j.host, bytes: j.uploadBytes ?? 0 });
  } finally {
    await f.ctx.store.close();
  }
  const fixtureClone = cloneSize(fixture, mkdirp(join(fdir, "clone")));
  const synthClone = cloneSize(repoDir, mkdirp(join(dir, "clone")));
  uploadRows("3. fixture monorepo", fixtureUploads, fixtureClone);
  uploadRows(
    `   synthetic repo (20 stacks, ${synth.files} files, ${synth.commits + 1} commits)`,
    synthUploads,
    synthClone,
  );
  details.push(
    `### 3. Uploads per deploy (tar of the stack's files from \`git archive\`, uncompressed)\n\n${table(
      ["repo", "stack", "host", "uploaded"],
      [
        ...fixtureUploads.map((u) => ["fixture", u.stack, u.host, fmtBytes(u.bytes)]),
        ...synthUploads
          .filter((u) => u.host === "h1")
          .slice(0, 3)
          .map((u) => ["synthetic", u.stack, u.host, fmtBytes(u.bytes)]),
      ],
    )}\n\nClone: fixture transfers ${fmtBytes(fixtureClone.transferBytes)} (bundle --all), occupies ${fmtBytes(fixtureClone.diskBytes)} ` +
      `(.git ${fmtBytes(fixtureClone.gitDirBytes)}); synthetic transfers ${fmtBytes(synthClone.transferBytes)}, ` +
      `occupies ${fmtBytes(synthClone.diskBytes)} (.git ${fmtBytes(synthClone.gitDirBytes)}). ` +
      "`git archive --format=tar` writes whole 10 KiB tar records, so a small stack always costs 10 KiB " +
      "(its files are a few hundred bytes: compressed, the upload would be under 1 KiB); the clone is " +
      "zlib-compressed and delta-packed, and grows with the whole repository and its history.",
  );
}

function mkdirp(p: string): string {
  mkdirSync(p, { recursive: true });
  return p;
}

function uploadRows(label: string, uploads: { host: string; bytes: number }[], clone: CloneSize): void {
  const per = uploads.map((u) => u.bytes);
  const byHost = new Map<string, number>();
  for (const u of uploads) byHost.set(u.host, (byHost.get(u.host) ?? 0) + u.bytes);
  const hostMax = max([...byHost.values()]);
  rows.push([
    `${label}: bytes uploaded per deploy (median, n=${per.length})`,
    `${fmtBytes(median(per))} (max ${fmtBytes(max(per))})`,
    `${fmtBytes(clone.transferBytes)} clone transfer`,
    fmtRatio(median(per) / clone.transferBytes),
    "report both",
    "reported",
  ]);
  rows.push([
    "   all its stacks on one host (sum) vs clone on disk",
    fmtBytes(hostMax),
    `${fmtBytes(clone.diskBytes)} clone on disk`,
    fmtRatio(hostMax / clone.diskBytes),
    "report both",
    "reported",
  ]);
}
