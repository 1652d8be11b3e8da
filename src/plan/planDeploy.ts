/**
 * The plan a deploy executes: a range planned and held against the rules (planRange), with its
 * images (builders, registries, reusable builds) and, per target, what to pull (images.ts). The
 * I/O here is reading the snapshots of the commits deployed on the targets; the decisions are
 * pure. One path for the App's jobs and the CLI.
 */
import type { Inventory } from "../config/hostsFile.ts";
import type { ParseLimits } from "../detect/blobReader.ts";
import { buildSnapshot, type ParseCache, type Snapshot } from "../detect/snapshot.ts";
import type { GitRepo } from "../git/repo.ts";
import { type BuildRecord, type ImagePlan, planWithImages } from "./images.ts";
import type { Plan } from "./plan.ts";
import { type PlanRangeOptions, planRange } from "./planRange.ts";

export interface PlannedDeploy {
  plan: Plan;
  head: Snapshot;
  /** Builds and per-target image operations; the orchestrator runs them. */
  images: ImagePlan;
}

export async function planDeploy(
  repo: GitRepo,
  opts: PlanRangeOptions & {
    inventory: Inventory;
    repoId: string;
    /** Recorded successful builds, for reuse. */
    builds?: readonly BuildRecord[];
    /** Work out what each target pulls (needs the deployed commits' snapshots); default true. */
    pulls?: boolean;
  },
  cache: ParseCache,
): Promise<PlannedDeploy> {
  const { plan, head } = await planRange(repo, opts, cache);
  const withImages = planWithImages({
    plan,
    head,
    inventory: opts.inventory,
    repoId: opts.repoId,
    ...(opts.builds ? { builds: opts.builds } : {}),
    ...(opts.force ? { force: true } : {}),
    ...(opts.pulls === false ? {} : { previous: await deployedSnapshots(repo, plan, cache, opts.limits) }),
  });
  return { ...withImages, head };
}

/** Snapshots of the commits deployed where the plan deploys, by commit (undefined: gone from the repository). */
async function deployedSnapshots(
  repo: GitRepo,
  plan: Plan,
  cache: ParseCache,
  limits: ParseLimits | undefined,
): Promise<Map<string, Snapshot | undefined>> {
  const commits = new Set<string>();
  for (const s of plan.stacks)
    for (const t of s.targets) if (t.action === "deploy" && t.deployed) commits.add(t.deployed.commit);
  const out = new Map<string, Snapshot | undefined>();
  for (const commit of commits) {
    const cached = cache.snapshots.get(commit);
    if (cached) out.set(commit, cached);
    else if (await repo.resolveCommit(commit))
      out.set(commit, await buildSnapshot(repo, commit, await repo.lsTree(commit), cache, limits));
    else out.set(commit, undefined);
  }
  return out;
}
