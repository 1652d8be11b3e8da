/**
 * A deploy plan as one request and one answer of plain data, so it can be made off the main
 * thread (planner.ts) or in it (the CLI, tests): read the rules from the default branch, plan the
 * range held against them, with images and pulls (planDeploy.ts).
 */
import type { Inventory } from "../config/hostsFile.ts";
import type { ParseLimits } from "../detect/blobReader.ts";
import type { ParseCache, Snapshot } from "../detect/snapshot.ts";
import type { GitRepo } from "../git/repo.ts";
import { loadPolicy } from "../policy/load.ts";
import type { Policy } from "../policy/policy.ts";
import type { BuildRecord, ImagePlan } from "./images.ts";
import type { DeployedRecord, HostRef, Plan } from "./plan.ts";
import { planDeploy } from "./planDeploy.ts";
import type { PlanRangeOptions } from "./planRange.ts";

export interface PlanRequest {
  repoDir: string;
  /** The repository's default branch: the rules are read there. */
  defaultBranch: string;
  range: Pick<PlanRangeOptions, "base" | "head" | "defaultBranch" | "force" | "only" | "mounts">;
  hosts: HostRef[];
  deployed: DeployedRecord[];
  inventory: Inventory;
  repoId: string;
  builds: BuildRecord[];
  /** Work out what each target pulls (reads the deployed commits' snapshots). */
  pulls: boolean;
  /** Server-side bounds on the files planning reads (default DEFAULT_PARSE_LIMITS). */
  limits?: ParseLimits;
}

/** What a deploy needs of the head: its commit and its stacks (not its whole tree). */
export type DeploySnapshot = Pick<Snapshot, "commit" | "stacks">;

export interface PlanResponse {
  plan: Plan;
  images: ImagePlan;
  head: DeploySnapshot;
  policy: Policy;
}

export async function runPlanRequest(
  repo: GitRepo,
  req: PlanRequest,
  cache: ParseCache,
): Promise<PlanResponse> {
  const policy = await loadPolicy(repo, req.defaultBranch, undefined, req.limits);
  const planned = await planDeploy(
    repo,
    {
      ...req.range,
      hosts: req.hosts,
      deployed: req.deployed,
      policy: { policy, repoId: req.repoId },
      inventory: req.inventory,
      repoId: req.repoId,
      builds: req.builds,
      pulls: req.pulls,
      ...(req.limits ? { limits: req.limits } : {}),
    },
    cache,
  );
  return {
    plan: planned.plan,
    images: planned.images,
    head: deploySnapshot(planned.head, planned.plan),
    policy,
  };
}

/** The head cut down to what a deploy of `plan` reads: the stacks it acts on. */
function deploySnapshot(head: Snapshot, plan: Plan): DeploySnapshot {
  const acting = new Set(
    plan.stacks.filter((s) => s.targets.some((t) => t.action !== "skip")).map((s) => s.name),
  );
  return {
    commit: head.commit,
    stacks: new Map([...head.stacks].filter(([name]) => acting.has(name))),
  };
}
