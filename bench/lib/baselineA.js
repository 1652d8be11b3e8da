/**
 * Baseline A: the least any change detector has to do for a range: a bare
 * `git diff --name-status -M base head`, spawned through simple-git like the product spawns git,
 * plus parsing the repo config with the product's loader (passed in: the TypeScript sources or the
 * built dist/, so that a dist-only process loads no sources).
 *
 * JavaScript, not TypeScript, like rssChild.js which loads it: a process measuring the built dist/
 * must not load Node's TypeScript stripper for its own harness. Types: baselineA.d.ts.
 */
import { simpleGit } from "simple-git";

/** @type {import("./baselineA.d.ts").makeBaselineA} */
export function makeBaselineA(dir, base, head, configText, loadRepoConfig) {
  const git = simpleGit({ baseDir: dir, maxConcurrentProcesses: 4 });
  return async () => {
    const out = await git.raw(["diff", "--name-status", "-M", base, head]);
    const loaded = loadRepoConfig(configText);
    if (loaded.problems.some((p) => p.severity === "error")) throw new Error("baseline A: config has errors");
    let changes = 0;
    for (let i = out.indexOf("\n"); i !== -1; i = out.indexOf("\n", i + 1)) changes++;
    return { changes };
  };
}
