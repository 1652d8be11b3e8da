/**
 * Where a warm plan's time goes: the steps of `planRange` (src/plan/planRange.ts) re-run one by
 * one with the same exported functions, each timed. planRange overlaps some of them (diff with
 * ls-tree, the two snapshots' blob reads), so the steps add up to a bit more than a plan.
 * Keep in step with planRange when it changes.
 */
import { performance } from "node:perf_hooks";
import { mapChanges } from "../../src/detect/changes.ts";
import { buildSnapshot, type ParseCache } from "../../src/detect/snapshot.ts";
import { runGit } from "../../src/git/gitProcess.ts";
import { resolveRange } from "../../src/git/range.ts";
import { type GitRepo, treeBeforeChanges } from "../../src/git/repo.ts";
import { buildPlan } from "../../src/plan/plan.ts";

export type PhaseTimes = Record<string, number[]>;

export async function timePhases(
  repo: GitRepo,
  base: string,
  head: string,
  cache: ParseCache,
  runs: number,
): Promise<PhaseTimes> {
  const acc: PhaseTimes = {};
  const time = async <T>(name: string, f: () => Promise<T> | T): Promise<T> => {
    const t = performance.now();
    const r = await f();
    const list = acc[name] ?? [];
    list.push(performance.now() - t);
    acc[name] = list;
    return r;
  };
  for (let i = 0; i < runs; i++) {
    await time("floor: one git spawn (`git rev-parse HEAD` via the runner, gitProcess.ts)", () =>
      runGit(["rev-parse", "HEAD"], { cwd: repo.dir }),
    );
    const range = await time("resolveRange, nothing cached: rev-parse x2 (parallel), then merge-base", () =>
      resolveRange(repo, { base, head }),
    );
    await time("resolveRange as a warm plan runs it (commits and merge base known: no spawn)", () =>
      resolveRange(repo, { base, head }, (sha) => cache.snapshots.has(sha), cache.mergeBases),
    );
    const changes = await time("git diff --raw -M + parse", () => repo.diff(range.base, range.head));
    const headTree = await time("git ls-tree -r of head + parse (whole tree)", () => repo.lsTree(range.head));
    const baseTree = await time("treeBeforeChanges (copy of the tree)", () =>
      treeBeforeChanges(headTree, changes),
    );
    const configOid = headTree.get(".github/stackpilot.yml")?.oid;
    if (configOid)
      await time("  within each snapshot: cat-file of the config (1 spawn)", () =>
        repo.readBlobs([configOid]),
      );
    const b = await time("buildSnapshot base (all stacks: resolve, collect, fingerprint)", () =>
      buildSnapshot(repo, range.base, baseTree, cache),
    );
    const h = await time("buildSnapshot head (all stacks: resolve, collect, fingerprint)", () =>
      buildSnapshot(repo, range.head, headTree, cache),
    );
    const m = await time("mapChanges (owner index over every input of both snapshots)", () =>
      mapChanges(b, h, changes),
    );
    await time("buildPlan", () => buildPlan({ range, base: b, head: h, changes: m }));
  }
  return acc;
}
