/**
 * Runs in its own Node process so that its peak RSS is the measured work's alone:
 *   node bench/lib/rssChild.ts plan|baseline src|dist REPO BASE HEAD RUNS
 * `plan`: one cold plan, then RUNS warm plans sharing a ParseCache. `baseline`: 1 + RUNS baseline A.
 * `src` loads the TypeScript sources (native type stripping), `dist` the built JavaScript as shipped.
 * Prints one JSON line: { maxRssKb, loadedRssKb, times } where loadedRssKb is the peak RSS once the
 * modules are loaded, before any work (maxRSS of this process; git subprocesses not included).
 */
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import type * as Config from "../../src/config/repoConfig.ts";
import type * as Snapshot from "../../src/detect/snapshot.ts";
import type * as Repo from "../../src/git/repo.ts";
import type * as PlanRange from "../../src/plan/planRange.ts";
import { makeBaselineA } from "./baselineA.ts";

const [mode, flavor, dir, base, head, runsArg] = process.argv.slice(2);
if (!mode || !dir || !base || !head || (flavor !== "src" && flavor !== "dist")) {
  console.error("usage: node bench/lib/rssChild.ts plan|baseline src|dist REPO BASE HEAD [RUNS]");
  process.exit(2);
}
const root = join(import.meta.dirname, "..", "..");
const load = <T>(module: string): Promise<T> =>
  import(join(root, flavor, flavor === "src" ? `${module}.ts` : `${module}.js`)) as Promise<T>;

const runs = Number(runsArg ?? 10);
const times: number[] = [];
let work: () => Promise<unknown>;
if (mode === "plan") {
  const { GitRepo } = await load<typeof Repo>("git/repo");
  const { ParseCache } = await load<typeof Snapshot>("detect/snapshot");
  const { planRange } = await load<typeof PlanRange>("plan/planRange");
  const repo = new GitRepo(dir);
  const cache = new ParseCache();
  work = () => planRange(repo, { base, head }, cache);
} else if (mode === "baseline") {
  const { loadRepoConfig } = await load<typeof Config>("config/repoConfig");
  const cfg = spawnSync("git", ["show", `${head}:.github/stackpilot.yml`], { cwd: dir, encoding: "utf8" });
  work = makeBaselineA(dir, base, head, cfg.stdout, loadRepoConfig);
} else {
  throw new Error(`unknown mode ${mode}`);
}
const loadedRssKb = process.resourceUsage().maxRSS;
for (let i = 0; i <= runs; i++) {
  const t = performance.now();
  await work();
  times.push(performance.now() - t);
}
console.log(JSON.stringify({ mode, flavor, maxRssKb: process.resourceUsage().maxRSS, loadedRssKb, times }));
