/**
 * Runs the benchmarks: every `bench/*.bench.ts`, in order, each in its own child process of the
 * Node that runs this script, or only those named on the command line:
 *   npm run bench            # all
 *   npm run bench -- plan    # bench/plan.bench.ts only
 * Exits non-zero when a benchmark fails (targets are reported by each benchmark, not enforced here).
 */
import { spawn } from "node:child_process";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { performance } from "node:perf_hooks";

const dir = import.meta.dirname;
const all = readdirSync(dir)
  .filter((f) => f.endsWith(".bench.ts"))
  .map((f) => f.slice(0, -".bench.ts".length))
  .sort();
const wanted = process.argv.slice(2).map((a) => a.replace(/(\.bench)?\.ts$/, "").replace(/^.*\//, ""));
const unknown = wanted.filter((w) => !all.includes(w));
if (unknown.length > 0) {
  console.error(`unknown benchmark(s): ${unknown.join(", ")}; available: ${all.join(", ")}`);
  process.exit(2);
}
const selected = wanted.length > 0 ? wanted : all;

const failed: string[] = [];
const start = performance.now();
for (const name of selected) {
  console.log(`\n## bench: ${name}\n`);
  const t = performance.now();
  const code = await new Promise<number>((resolve) => {
    const child = spawn(process.execPath, [join(dir, `${name}.bench.ts`)], { stdio: "inherit" });
    child.on("error", () => resolve(1));
    child.on("close", (c, signal) => resolve(c ?? (signal ? 1 : 0)));
  });
  console.log(
    `\n${name}: ${code === 0 ? "done" : `FAILED (exit ${code})`} in ${((performance.now() - t) / 1000).toFixed(1)} s`,
  );
  if (code !== 0) failed.push(name);
}
console.log(
  `\nbenchmarks: ${selected.length - failed.length}/${selected.length} ok in ${((performance.now() - start) / 1000).toFixed(1)} s`,
);
process.exit(failed.length > 0 ? 1 : 0);
