/**
 * Plan benchmark. Requirement: on a synthetic repo of 1,000 stacks / 20,000 files and a 50-commit
 * range touching 30 stacks, a warm `plan` has a median <= 250 ms and <= 1.5x a bare
 * `git diff --name-status` of the same range plus config parse (baseline A, same run), with a peak
 * RSS <= 150 MB (measured in a process planning cold then warm, as the App does, and in a
 * `stackpilot plan` process as a user runs it, each from the sources and from dist/); and against
 * the per-stack approach (baseline B: a clone per stack, then compare files) report seconds and
 * bytes for both.
 *
 * Targets are reported, not asserted. The one assertion is correctness: the plan's changed stacks
 * must be exactly the 30 the range touches (throws, so exit 1, otherwise).
 *
 * Knobs (environment): BENCH_RUNS (warm runs, default 15), BENCH_SAMPLE (baseline B sample, default
 * 25), BENCH_B_BUDGET_S (stop sampling baseline B after this many seconds, at least 5 stacks,
 * default 75), BENCH_KEEP=1 keeps .tmp/bench/plan.
 */
import { execFile } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, rmSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { performance } from "node:perf_hooks";
import { promisify } from "node:util";
import { loadRepoConfig } from "../src/config/repoConfig.ts";
import { ParseCache } from "../src/detect/snapshot.ts";
import { GitRepo } from "../src/git/repo.ts";
import type { Plan } from "../src/plan/plan.ts";
import { planRange } from "../src/plan/planRange.ts";
import { makeBaselineA } from "./lib/baselineA.js";
import { type PerStackResult, perStackCheck } from "./lib/perStack.ts";
import { timePhases } from "./lib/planPhases.ts";
import { inScratchDir } from "./lib/scratch.ts";
import { diskUsage, fmtBytes, fmtMs, fmtRatio, fmtS, type Summary, summarize, table } from "./lib/stats.ts";
import { generateSynthRepo } from "./lib/synthRepo.ts";

const ROOT = resolve(import.meta.dirname, "..");
const TMP = join(ROOT, ".tmp", "bench", "plan");
const RUNS = Number(process.env.BENCH_RUNS ?? 15);
const COLD_RUNS = 3;
const RSS_RUNS = 10;
const PHASE_RUNS = 5;
const SAMPLE = Number(process.env.BENCH_SAMPLE ?? 25);
const MIN_SAMPLE = 5;
const B_BUDGET_MS = Number(process.env.BENCH_B_BUDGET_S ?? 75) * 1000;

const TARGET_WARM_MS = 250;
const TARGET_RATIO = 1.5;
const TARGET_RSS_MB = 150;

const log = (s: string) => process.stderr.write(`${s}\n`);
const started = performance.now();

await inScratchDir(TMP, main);

async function main(): Promise<void> {
  // 1. The synthetic repository.
  const synth = await generateSynthRepo({ dir: join(TMP, "repo.git") });
  const { base, head } = synth;
  console.log(
    `synthetic repo: ${synth.stacks} stacks, ${synth.filesAtBase} files at base (${synth.filesAtHead} at head), ` +
      `${synth.commits} commits ${base.slice(0, 7)}..${head.slice(0, 7)} touching ${synth.expectedChanged.length} stacks; ` +
      `generated in ${fmtS(synth.ms)} (git fast-import)`,
  );
  console.log(
    `  touches: ${Object.entries(synth.touchKinds)
      .map(([k, n]) => `${n}x ${k}`)
      .join("; ")}`,
  );

  const expected = synth.expectedChanged.join(" ");
  const check = (plan: Plan, what: string) => {
    const got = plan.stacks.filter((s) => s.changed).map((s) => s.name);
    const errors = plan.problems.filter((p) => p.severity === "error");
    if (!plan.ok || errors.length > 0 || got.join(" ") !== expected) {
      const missing = synth.expectedChanged.filter((n) => !got.includes(n));
      const extra = got.filter((n) => !synth.expectedChanged.includes(n));
      throw new Error(
        `CORRECTNESS FAILURE (${what}): plan.ok=${plan.ok}, ${errors.length} errors, changed ${got.length} stacks, ` +
          `expected ${synth.expectedChanged.length}; missing [${missing.join(", ")}], extra [${extra.join(", ")}]` +
          errors
            .slice(0, 5)
            .map((e) => `\n  ${e.file}:${e.line}: ${e.message}`)
            .join(""),
      );
    }
    return got.length;
  };

  // 2. Cold plan: first planRange of this process, empty cache; then cold caches in a warm process.
  const repo = new GitRepo(synth.dir);
  const cache = new ParseCache();
  let t = performance.now();
  const first = await planRange(repo, { base, head }, cache);
  const coldFirst = performance.now() - t;
  const changedCount = check(first.plan, "cold plan");
  log(`cold plan: ${fmtMs(coldFirst)} (${cache.misses} compose parses)`);
  const coldMisses = cache.misses;
  const cold: number[] = [];
  for (let i = 0; i < COLD_RUNS; i++) {
    t = performance.now();
    check((await planRange(repo, { base, head }, new ParseCache())).plan, "cold-cache plan");
    cold.push(performance.now() - t);
  }

  // 3. Warm plan vs baseline A, interleaved so both see the same machine state.
  const cfg = await execFileP("git", ["show", `${head}:.github/stackpilot.yml`], synth.dir);
  const baselineA = makeBaselineA(synth.dir, base, head, cfg, loadRepoConfig);
  const a0 = await baselineA(); // warm-up (yaml, zod), not counted
  const aTimes: number[] = [];
  const warm: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    t = performance.now();
    await baselineA();
    aTimes.push(performance.now() - t);
    t = performance.now();
    const r = await planRange(repo, { base, head }, cache);
    warm.push(performance.now() - t);
    check(r.plan, `warm plan #${i + 1}`);
  }
  const warmParses = cache.misses - coldMisses;
  const phases = await timePhases(repo, base, head, cache, PHASE_RUNS);
  log(
    `warm plan: median ${fmtMs(summarize(warm).median)}, baseline A: median ${fmtMs(summarize(aTimes).median)}`,
  );

  // 4. Peak RSS, each in its own process: the TypeScript sources (as everywhere in this benchmark),
  // and the built dist/ JavaScript as shipped (bin/stackpilot.js runs dist/).
  type ChildResult = { maxRssKb: number; loadedRssKb: number; times: number[] };
  const child = async (mode: string, flavor: string) =>
    JSON.parse(
      await execFileP(
        process.execPath,
        [
          join(import.meta.dirname, "lib", "rssChild.js"),
          mode,
          flavor,
          synth.dir,
          base,
          head,
          String(RSS_RUNS),
        ],
        ROOT,
      ),
    ) as ChildResult;
  const rssPlan = await child("plan", "src");
  const rssA = await child("baseline", "src");
  // The CLI as a user runs it: its own process, one cold plan, through src/cli/main.ts.
  const rssCli = await child("cli", "src");
  const distNow = distState();
  const rssPlanDist = distNow === "missing" ? undefined : await child("plan", "dist");
  const rssADist = distNow === "missing" ? undefined : await child("baseline", "dist");
  const rssCliDist = distNow === "missing" ? undefined : await child("cli", "dist");
  log(
    `peak RSS: plan process ${fmtBytes(rssPlan.maxRssKb * 1024)}, baseline A process ${fmtBytes(rssA.maxRssKb * 1024)}, ` +
      `\`stackpilot plan\` process ${fmtBytes(rssCli.maxRssKb * 1024)}` +
      (rssPlanDist && rssCliDist
        ? `; dist: ${fmtBytes(rssPlanDist.maxRssKb * 1024)}, ${fmtBytes(rssCliDist.maxRssKb * 1024)}`
        : ""),
  );

  // 5. Baseline B: a clone per stack, on a deterministic, evenly spaced sample, extrapolated.
  const clones = join(TMP, "clones");
  mkdirSync(clones, { recursive: true });
  const sample = [...Array(SAMPLE).keys()].map(
    (k) => synth.stackNames[Math.floor(((k + 0.5) * synth.stacks) / SAMPLE)] as string,
  );
  const bResults: PerStackResult[] = [];
  const bStart = performance.now();
  for (const stack of sample) {
    if (bResults.length >= MIN_SAMPLE && performance.now() - bStart > B_BUDGET_MS) break;
    const r = await perStackCheck(synth.dir, base, head, stack, clones);
    bResults.push(r);
    log(
      `baseline B ${bResults.length}/${sample.length}: ${stack} ${r.changed ? "changed" : "unchanged"} in ${fmtMs(r.ms)} (clone ${fmtMs(r.cloneMs)}), ${fmtBytes(r.bytes)}`,
    );
  }
  const bWall = performance.now() - bStart;
  rmSync(clones, { recursive: true, force: true });
  const bAgree = bResults.filter((r) => r.changed === synth.expectedChanged.includes(r.stack)).length;
  const bTimes = bResults.map((r) => r.ms);
  const bMeanMs = bTimes.reduce((s, x) => s + x, 0) / bResults.length;
  const bMeanBytes = bResults.reduce((s, r) => s + r.bytes, 0) / bResults.length;
  const bSecondsAll = bMeanMs * synth.stacks;
  const bBytesAll = bMeanBytes * synth.stacks;
  const repoBytes = diskUsage(synth.dir);

  // 6. Report.
  const W = summarize(warm);
  const A = summarize(aTimes);
  const C = summarize(cold);
  const ratio = W.median / A.median;
  const yes = (ok: boolean) => (ok ? "yes" : "**NO**");
  const n = bResults.length;
  const rows: string[][] = [
    [
      `warm plan, median of ${W.n} (ParseCache reused)`,
      fmtMs(W.median),
      `A: ${fmtMs(A.median)}`,
      fmtRatio(ratio),
      `<= ${TARGET_WARM_MS} ms`,
      yes(W.median <= TARGET_WARM_MS),
    ],
    [
      "warm plan / baseline A (diff --name-status + config parse)",
      fmtMs(W.median),
      `A: ${fmtMs(A.median)}`,
      fmtRatio(ratio),
      `<= ${TARGET_RATIO}x`,
      yes(ratio <= TARGET_RATIO),
    ],
    ...[
      ["src/ .ts", rssPlan, rssA] as const,
      ...(rssPlanDist && rssADist
        ? [[`dist/ .js${distNow === "stale" ? ", STALE" : ""}`, rssPlanDist, rssADist] as const]
        : []),
    ].map(([what, p, a]) => [
      `peak RSS, own process (${what}): cold + ${RSS_RUNS} warm plans`,
      `${fmtBytes(p.maxRssKb * 1024)} (${fmtBytes(p.loadedRssKb * 1024)} before work)`,
      `A-only process: ${fmtBytes(a.maxRssKb * 1024)}`,
      fmtRatio(p.maxRssKb / a.maxRssKb),
      `<= ${TARGET_RSS_MB} MB`,
      yes(p.maxRssKb / 1024 <= TARGET_RSS_MB),
    ]),
    ...[
      ["src/ .ts", rssCli, rssA] as const,
      ...(rssCliDist && rssADist
        ? [[`dist/ .js${distNow === "stale" ? ", STALE" : ""}`, rssCliDist, rssADist] as const]
        : []),
    ].map(([what, p, a]) => [
      `peak RSS, \`stackpilot plan --json\` process (${what}): one cold plan`,
      `${fmtBytes(p.maxRssKb * 1024)} (${fmtBytes(p.loadedRssKb * 1024)} before work)`,
      `A-only process: ${fmtBytes(a.maxRssKb * 1024)}`,
      fmtRatio(p.maxRssKb / a.maxRssKb),
      `<= ${TARGET_RSS_MB} MB`,
      yes(p.maxRssKb / 1024 <= TARGET_RSS_MB),
    ]),
    [
      "changed stacks (correctness, asserted)",
      `${changedCount}, exactly the touched ones`,
      `expected ${synth.expectedChanged.length}`,
      "-",
      "= touched set",
      "yes",
    ],
    ["cold plan, first in process (empty cache)", fmtMs(coldFirst), "-", "-", "report", "-"],
    [`cold-cache plan, warm process, median of ${C.n}`, fmtMs(C.median), "-", "-", "report", "-"],
    [
      `seconds for the range, 1,000 stacks (B: extrapolated from ${n})`,
      `${fmtS(coldFirst)} (cold plan)`,
      `B: ${fmtS(bSecondsAll)} (median x ${synth.stacks}: ${fmtS(summarize(bTimes).median * synth.stacks)})`,
      fmtRatio(coldFirst / bSecondsAll),
      "report",
      "-",
    ],
    [
      `bytes on disk (B: ${synth.stacks} clones, extrapolated from ${n})`,
      `${fmtBytes(repoBytes)} (one bare repo)`,
      `B: ${fmtBytes(bBytesAll)}`,
      fmtRatio(repoBytes / bBytesAll),
      "report",
      "-",
    ],
  ];
  console.log("");
  console.log(table(["metric", "stackpilot", "baseline", "ratio", "target", "met?"], rows));

  const dist = (name: string, s: Summary) => [name, String(s.n), fmtMs(s.median), fmtMs(s.min), fmtMs(s.max)];
  console.log("");
  console.log(
    table(
      ["measurement", "n", "median", "min", "max"],
      [
        dist("warm plan (in process)", W),
        dist("baseline A: git diff --name-status -M + loadRepoConfig", A),
        dist("cold-cache plan (warm process)", C),
        dist("warm plan (RSS child process)", summarize(rssPlan.times.slice(1))),
        dist("baseline A (RSS child process)", summarize(rssA.times.slice(1))),
        dist("`stackpilot plan --json`, one cold plan (RSS child process)", summarize(rssCli.times)),
        dist("baseline B: one stack (clone + compare)", summarize(bTimes)),
        dist("baseline B: of which git clone", summarize(bResults.map((r) => r.cloneMs))),
      ],
    ),
  );
  console.log("");
  console.log(
    table(
      [
        `where a warm plan's time goes (steps re-run one by one, median of ${PHASE_RUNS})`,
        "median",
        "min",
        "max",
      ],
      Object.entries(phases).map(([name, xs]) => {
        const s = summarize(xs);
        return [name, fmtMs(s.median), fmtMs(s.min), fmtMs(s.max)];
      }),
    ),
  );
  console.log("");
  console.log(
    [
      `notes: range ${base}..${head}; baseline A sees ${a0.changes} changed paths.`,
      `  warm plans re-parsed ${warmParses} compose files (cache hits only otherwise).`,
      `  baseline A: one plain execFile of git diff; config text read once up front, parsed every run.`,
      `  peak RSS = process.resourceUsage().maxRSS of a child Node process; git subprocesses not included;` +
        ` "before work" = after loading the modules (for the CLI: its entry module; plan loads the rest);` +
        ` the child is plain JavaScript (bench/lib/rssChild.js), so a dist/ process loads no TypeScript at all.`,
      `  baseline B: ${n} of ${sample.length} sampled stacks (every ${synth.stacks / SAMPLE}th) in ${fmtS(bWall)};` +
        ` per stack a local \`git clone --no-hardlinks\` (${fmtBytes(bMeanBytes)} on disk each), base read with git show;`,
      `  verdicts matched the touched set on ${bAgree}/${n} sampled stacks; seconds and bytes are mean x ${synth.stacks}` +
        ` (linear extrapolation; du and clone removal not timed; clones removed after the sample).`,
      `  stackpilot bytes = du of the single bare repo; stackpilot seconds = the cold plan.`,
    ].join("\n"),
  );
  console.log(`plan benchmark took ${fmtS(performance.now() - started)}`);
}

async function execFileP(cmd: string, args: string[], cwd: string): Promise<string> {
  const { stdout } = await promisify(execFile)(cmd, args, { cwd, encoding: "utf8", maxBuffer: 1 << 26 });
  return stdout;
}

/**
 * Whether dist/ (what bin/stackpilot.js runs) holds the planning code (src/cli, config, detect, git, plan)
 * as it is now: every source file's .js at least as new as the source.
 */
function distState(): "fresh" | "stale" | "missing" {
  if (!existsSync(join(ROOT, "dist", "plan", "planRange.js"))) return "missing";
  const stale = (dir: string): boolean =>
    readdirSync(join(ROOT, "src", dir), { withFileTypes: true }).some((e) => {
      const rel = join(dir, e.name);
      if (e.isDirectory()) return stale(rel);
      if (!e.name.endsWith(".ts")) return false;
      const built = join(ROOT, "dist", rel.replace(/\.ts$/, ".js"));
      return !existsSync(built) || statSync(built).mtimeMs < statSync(join(ROOT, "src", rel)).mtimeMs;
    });
  return ["cli", "config", "detect", "git", "plan"].some(stale) ? "stale" : "fresh";
}
