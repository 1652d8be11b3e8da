/**
 * Plan a commit range of a local repository: the I/O shell around the pure planner.
 * 1. resolve the range (first push, force push), diffing the range as asked meanwhile,
 * 2. snapshot base and head: from the per-commit snapshot cache; else derived from the other one's
 *    cached snapshot and the diff; else built from a listing of the head tree,
 * 3. map changes to stacks, 4. build the plan.
 */
import { mapChanges } from "../detect/changes.ts";
import {
  buildSnapshot,
  DEFAULT_PARSE_LIMITS,
  deriveSnapshot,
  ParseCache,
  type ParseLimits,
  type Snapshot,
} from "../detect/snapshot.ts";
import { resolveRange } from "../git/range.ts";
import type { Change, GitRepo } from "../git/repo.ts";
import { applyPolicy } from "../policy/apply.ts";
import type { Policy } from "../policy/policy.ts";
import { buildPlan, type DeployedRecord, type HostRef, type Plan, type StoppedRef } from "./plan.ts";

const FULL_SHA = /^(?!0+$)([0-9a-f]{40}|[0-9a-f]{64})$/;

export interface PlanRangeOptions {
  base?: string;
  head: string;
  defaultBranch?: string;
  hosts?: HostRef[];
  deployed?: DeployedRecord[];
  force?: boolean;
  only?: { stacks?: string[]; hosts?: string[] };
  /** Stacks stopped on purpose (plan.ts): skipped until started. */
  stopped?: readonly StoppedRef[];
  /**
   * The rules (from the default branch, see src/policy): targets they do not allow are skipped
   * with the rule's reason. `repoId` names the repository for the hosts' `repos` lists.
   */
  policy?: { policy: Policy; repoId: string };
  /** Server-side bounds on the files planning reads (default DEFAULT_PARSE_LIMITS). */
  limits?: ParseLimits;
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
  const snapshots = cache.snapshots;
  // The range is almost always the one asked for (a push's before..after): diff it while the range
  // is resolved, and diff again only when resolving moved the base.
  const asked = opts.base && FULL_SHA.test(opts.base) && FULL_SHA.test(opts.head) ? opts.base : undefined;
  const early = asked ? repo.diff(asked, opts.head) : undefined;
  early?.catch(() => {}); // an unknown or replaced base: resolved below, its diff not used
  const range = await resolveRange(repo, opts, (sha) => snapshots.has(sha), cache.mergeBases);
  const changes: Change[] =
    early && range.base === asked && range.head === opts.head
      ? await early
      : await repo.diff(range.base, range.head);

  const limits = opts.limits ?? DEFAULT_PARSE_LIMITS;
  let base = snapshots.get(range.base);
  let head = snapshots.get(range.head);
  if (base && !head) head = await deriveSnapshot(repo, base, range.head, changes, true, cache, limits);
  else if (head && !base) base = await deriveSnapshot(repo, head, range.base, changes, false, cache, limits);
  else if (!base || !head) {
    // Nothing cached: build the head from its tree listing, then derive the base from it.
    head = await buildSnapshot(repo, range.head, await repo.lsTree(range.head), cache, limits);
    base = await deriveSnapshot(repo, head, range.base, changes, false, cache, limits);
  }
  snapshots.set(base);
  snapshots.set(head);
  const built = buildPlan({
    range,
    base,
    head,
    changes: mapChanges(base, head, changes),
    ...(opts.hosts ? { hosts: opts.hosts } : {}),
    ...(opts.deployed ? { deployed: opts.deployed } : {}),
    ...(opts.force ? { force: true } : {}),
    ...(opts.only ? { only: opts.only } : {}),
    ...(opts.stopped?.length ? { stopped: opts.stopped } : {}),
  });
  const plan = opts.policy
    ? applyPolicy({
        plan: built,
        policy: opts.policy.policy,
        repoId: opts.policy.repoId,
        headConfig: head.config,
        ...(opts.hosts ? { hosts: opts.hosts } : {}),
      })
    : built;
  return { plan, base, head };
}
