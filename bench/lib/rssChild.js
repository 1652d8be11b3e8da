/**
 * Runs in its own Node process so that its peak RSS is the measured work's alone:
 *   node bench/lib/rssChild.js plan|cli|baseline src|dist REPO BASE HEAD RUNS
 * `plan`: one cold plan, then RUNS warm plans sharing a ParseCache (a long-running process, as the
 * App plans). `cli`: `stackpilot plan --json` once, through the CLI's entry module as
 * bin/stackpilot.js runs it, the JSON written to /dev/null (a user's process: one cold plan).
 * `baseline`: 1 + RUNS baseline A. `src` loads the TypeScript sources (native type stripping),
 * `dist` the built JavaScript as shipped. Only what the mode needs is loaded.
 *
 * JavaScript on purpose: the first TypeScript file a process loads brings in Node's type stripper
 * (~17 MB of RSS), which the shipped CLI never loads; a .ts harness put it into every dist figure.
 *
 * Prints one JSON line: { maxRssKb, loadedRssKb, times } where loadedRssKb is the peak RSS once the
 * modules are loaded, before any work (maxRSS of this process; git subprocesses not included).
 */
import { spawnSync } from "node:child_process";
import { closeSync, openSync, writeSync } from "node:fs";
import { join } from "node:path";
import { performance } from "node:perf_hooks";

const [mode, flavor, dir, base, head, runsArg] = process.argv.slice(2);
if (!mode || !dir || !base || !head || (flavor !== "src" && flavor !== "dist")) {
  console.error("usage: node bench/lib/rssChild.js plan|cli|baseline src|dist REPO BASE HEAD [RUNS]");
  process.exit(2);
}
const root = join(import.meta.dirname, "..", "..");
/** @param {string} module */
const load = (module) => import(join(root, flavor, flavor === "src" ? `${module}.ts` : `${module}.js`));

const runs = Number(runsArg ?? 10);
/** @type {number[]} */
const times = [];
/** @type {() => Promise<unknown>} */
let work;
if (mode === "plan") {
  const { GitRepo } = await load("git/repo");
  const { ParseCache } = await load("detect/snapshot");
  const { planRange } = await load("plan/planRange");
  const repo = new GitRepo(dir);
  const cache = new ParseCache();
  work = () => planRange(repo, { base, head }, cache);
} else if (mode === "cli") {
  // What bin/stackpilot.js does: import the CLI, run it; plan loads its own modules on the way.
  const { main } = await load("cli/main");
  const argv = ["plan", "--repo", dir, "--base", base, "--head", head, "--json"];
  work = async () => {
    const out = openSync("/dev/null", "w");
    try {
      const code = await main(argv, {
        out: (/** @type {string} */ text) => writeSync(out, text),
        err: (/** @type {string} */ text) => writeSync(2, text),
      });
      if (code !== 0) throw new Error(`stackpilot plan exited ${code}`);
    } finally {
      closeSync(out);
    }
  };
} else if (mode === "baseline") {
  const { loadRepoConfig } = await load("config/repoConfig");
  const { makeBaselineA } = await import("./baselineA.js");
  const cfg = spawnSync("git", ["show", `${head}:.github/stackpilot.yml`], { cwd: dir, encoding: "utf8" });
  work = makeBaselineA(dir, base, head, cfg.stdout, loadRepoConfig);
} else {
  throw new Error(`unknown mode ${mode}`);
}
const loadedRssKb = process.resourceUsage().maxRSS;
// A CLI process plans once.
for (let i = 0; i <= (mode === "cli" ? 0 : runs); i++) {
  const t = performance.now();
  await work();
  times.push(performance.now() - t);
}
console.log(JSON.stringify({ mode, flavor, maxRssKb: process.resourceUsage().maxRSS, loadedRssKb, times }));
