/**
 * Baseline A: the least any change detector has to do for a range: a bare
 * `git diff --name-status -M base head`, one plain child process (the product's runner adds a
 * process group, a timer and a cleaned environment, nothing that costs a measurable spawn),
 * plus parsing the repo config with the product's loader (passed in: the TypeScript sources or the
 * built dist/, so that a dist-only process loads no sources).
 *
 * JavaScript, not TypeScript, like rssChild.js which loads it: a process measuring the built dist/
 * must not load Node's TypeScript stripper for its own harness. Types: baselineA.d.ts.
 */
import { execFile } from "node:child_process";
import { promisify } from "node:util";

const run = promisify(execFile);

/** @type {import("./baselineA.d.ts").makeBaselineA} */
export function makeBaselineA(dir, base, head, configText, loadRepoConfig) {
  return async () => {
    const { stdout: out } = await run("git", ["diff", "--name-status", "-M", base, head], {
      cwd: dir,
      maxBuffer: 1 << 30,
    });
    const loaded = loadRepoConfig(configText);
    if (loaded.problems.some((p) => p.severity === "error")) throw new Error("baseline A: config has errors");
    let changes = 0;
    for (let i = out.indexOf("\n"); i !== -1; i = out.indexOf("\n", i + 1)) changes++;
    return { changes };
  };
}
