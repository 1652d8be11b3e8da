/**
 * Plan a commit range of a local repository: the I/O shell around the pure planner.
 * 1. resolve the range (first push, force push), 2. diff and list the head tree,
 * 3. snapshot base and head, 4. map changes to stacks, 5. build the plan.
 */
import { mapChanges } from "../detect/changes.ts";
import { buildSnapshot, ParseCache, type Snapshot } from "../detect/snapshot.ts";
import { resolveRange } from "../git/range.ts";
import { type GitRepo, treeBeforeChanges } from "../git/repo.ts";
import { buildPlan, type DeployedRecord, type HostRef, type Plan } from "./plan.ts";

export interface PlanRangeOptions {
  base?: string;
  head: string;
  defaultBranch?: string;
  hosts?: HostRef[];
  deployed?: DeployedRecord[];
  force?: boolean;
  only?: { stacks?: string[]; hosts?: string[] };
}

export interface PlannedRange {
  plan: Plan;
  base: Snapshot;
  head: Snapshot;
}

export async function planRange(
  repo: GitRepo,
  opts: PlanRangeOptions,
  cache = new ParseCache(),
): Promise<PlannedRange> {
  const range = await resolveRange(repo, opts);
  const [changes, headTree] = await Promise.all([repo.diff(range.base, range.head), repo.lsTree(range.head)]);
  const baseTree = treeBeforeChanges(headTree, changes);
  const [base, head] = await Promise.all([
    buildSnapshot(repo, range.base, baseTree, cache),
    buildSnapshot(repo, range.head, headTree, cache),
  ]);
  const plan = buildPlan({
    range,
    base,
    head,
    changes: mapChanges(base, head, changes),
    ...(opts.hosts ? { hosts: opts.hosts } : {}),
    ...(opts.deployed ? { deployed: opts.deployed } : {}),
    ...(opts.force ? { force: true } : {}),
    ...(opts.only ? { only: opts.only } : {}),
  });
  return { plan, base, head };
}
