/**
 * Plan a commit range of a local repository: the I/O shell around the pure planner.
 * 1. resolve the range (first push, force push), diffing the range as asked meanwhile,
 * 2. snapshot base and head: from the per-commit snapshot cache; else derived from the other one's
 *    cached snapshot and the diff; else built from a listing of the head tree,
 * 3. map changes to stacks, 4. build the plan.
 */
import { createHash } from "node:crypto";
import { mapChanges } from "../detect/changes.ts";
import { type BlobSource, MountedBlobs } from "../detect/mounted.ts";
import {
  buildSnapshot,
  DEFAULT_PARSE_LIMITS,
  deriveSnapshot,
  ParseCache,
  type ParseLimits,
  type Snapshot,
  type SnapshotView,
} from "../detect/snapshot.ts";
import { type MountSet, mountKey } from "../git/mounts.ts";
import { type CommitRange, resolveRange } from "../git/range.ts";
import { type Change, type GitRepo, ZERO_SHA } from "../git/repo.ts";
import { FULL_SHA } from "../git/sha.ts";
import { applyPolicy } from "../policy/apply.ts";
import type { Policy } from "../policy/policy.ts";
import {
  buildPlan,
  type DeployedRecord,
  type HostRef,
  type Plan,
  type PlanInput,
  type PlanMount,
  type StoppedRef,
} from "./plan.ts";

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
  /**
   * The repositories mounted at each end (submodules, sources; git/mounts.ts `resolveMounts`),
   * resolved for the commits the range resolves to (git/range.ts).
   */
  mounts?: PlanMounts;
}

/** Mounts of both ends of a range, each with the commit it was resolved at. */
export interface PlanMounts {
  base: { commit: string; set: MountSet };
  head: { commit: string; set: MountSet };
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
  const { range, own } = await resolveAndDiff(repo, opts, cache);
  // Mounted repositories' files are part of each end's tree, and their moves part of the changes.
  const views: EndViews = {
    base: viewOf(range.base, mountsAt(opts.mounts?.base, range.base, "base")),
    head: viewOf(range.head, mountsAt(opts.mounts?.head, range.head, "head")),
  };
  const changes = await cache.mounted.changes(own, views.base?.mounts, views.head?.mounts);
  const limits = opts.limits ?? DEFAULT_PARSE_LIMITS;
  const { base, head } = await snapshotEnds(repo, range, changes, views, cache, limits);
  const built = buildPlan(planInput(range, base, head, changes, opts));
  const moved = mountMoves(views.base?.mounts, views.head?.mounts, changes);
  if (moved.length > 0) built.mounts = moved;
  return { plan: withPolicy(built, head, opts), base, head };
}

/** Each end's view of its mounts (`viewOf`); undefined where nothing is mounted. */
interface EndViews {
  base: SnapshotView | undefined;
  head: SnapshotView | undefined;
}

/**
 * The range resolved, and the repository's own changes in it. The range is almost always the one
 * asked for (a push's before..after): diff it while the range is resolved, and diff again only
 * when resolving moved the base.
 */
async function resolveAndDiff(
  repo: GitRepo,
  opts: PlanRangeOptions,
  cache: ParseCache,
): Promise<{ range: CommitRange; own: Change[] }> {
  const snapshots = cache.snapshots;
  const asked = opts.base && isCommit(opts.base) && isCommit(opts.head) ? opts.base : undefined;
  const early = asked ? repo.diff(asked, opts.head) : undefined;
  early?.catch(() => {}); // an unknown or replaced base: resolved below, its diff not used
  const range = await resolveRange(repo, opts, (sha) => snapshots.has(sha), cache.mergeBases);
  const own =
    early && range.base === asked && range.head === opts.head
      ? await early
      : await repo.diff(range.base, range.head);
  return { range, own };
}

/**
 * Both ends' snapshots: from the per-commit snapshot cache; else derived from the other one's
 * cached snapshot and the diff; else the head built from its tree listing and the base derived
 * from it. Both are cached for the next range.
 */
async function snapshotEnds(
  repo: GitRepo,
  range: CommitRange,
  changes: readonly Change[],
  views: EndViews,
  cache: ParseCache,
  limits: ParseLimits,
): Promise<{ base: Snapshot; head: Snapshot }> {
  const { snapshots, mounted: trees } = cache;
  const blobs: BlobSource =
    views.base || views.head ? new MountedBlobs(repo, trees, [views.base?.mounts, views.head?.mounts]) : repo;
  let base = snapshots.get(views.base?.key ?? range.base);
  let head = snapshots.get(views.head?.key ?? range.head);
  if (base && !head)
    head = await deriveSnapshot(blobs, base, range.head, changes, true, cache, limits, views.head);
  else if (head && !base)
    base = await deriveSnapshot(blobs, head, range.base, changes, false, cache, limits, views.base);
  else if (!base || !head) {
    // Nothing cached: build the head from its tree listing, then derive the base from it.
    const tree = await trees.tree(await repo.lsTree(range.head), views.head?.mounts);
    head = await buildSnapshot(blobs, range.head, tree, cache, limits, views.head);
    base = await deriveSnapshot(blobs, head, range.base, changes, false, cache, limits, views.base);
  }
  snapshots.set(base);
  snapshots.set(head);
  return { base, head };
}

/** The pure planner's input: the snapshots, their stacks' changes, and the options that apply. */
function planInput(
  range: CommitRange,
  base: Snapshot,
  head: Snapshot,
  changes: readonly Change[],
  opts: PlanRangeOptions,
): PlanInput {
  return {
    range,
    base,
    head,
    changes: mapChanges(base, head, changes),
    ...(opts.hosts ? { hosts: opts.hosts } : {}),
    ...(opts.deployed ? { deployed: opts.deployed } : {}),
    ...(opts.force ? { force: true } : {}),
    ...(opts.only ? { only: opts.only } : {}),
    ...(opts.stopped?.length ? { stopped: opts.stopped } : {}),
  };
}

/** The plan held against the rules, when there are rules: targets they do not allow skip. */
function withPolicy(plan: Plan, head: Snapshot, opts: PlanRangeOptions): Plan {
  if (!opts.policy) return plan;
  return applyPolicy({
    plan,
    policy: opts.policy.policy,
    repoId: opts.policy.repoId,
    headConfig: head.config,
    ...(opts.hosts ? { hosts: opts.hosts } : {}),
  });
}

function mountsAt(side: PlanMounts["base"] | undefined, commit: string, which: string): MountSet | undefined {
  if (!side) return undefined;
  if (side.commit !== commit)
    throw new Error(`the ${which}'s mounts were resolved at ${side.commit}, the range resolved to ${commit}`);
  return side.set;
}

/** The snapshot's view of its mounts; none when nothing is mounted or failed. */
function viewOf(commit: string, set: MountSet | undefined): SnapshotView | undefined {
  const key = set ? mountKey(set) : "";
  if (!set || key === "") return undefined;
  return { mounts: set, key: `${commit}#${createHash("sha256").update(key).digest("hex").slice(0, 16)}` };
}

/** Mounts whose commit differs between the ends, with how many files changed in them. */
function mountMoves(
  base: MountSet | undefined,
  head: MountSet | undefined,
  changes: readonly Change[],
): PlanMount[] {
  const paths = new Set([...(base?.mounts ?? []), ...(head?.mounts ?? [])].map((m) => m.path));
  const out: PlanMount[] = [];
  for (const path of [...paths].sort()) {
    const b = base?.mounts.find((m) => m.path === path);
    const h = head?.mounts.find((m) => m.path === path);
    if (b && h && b.commit === h.commit) continue;
    const m = (h ?? b) as NonNullable<typeof h>;
    const prefix = `${path}/`;
    const files = changes.filter((c) => c.path.startsWith(prefix) || c.oldPath?.startsWith(prefix)).length;
    out.push({
      kind: m.kind,
      name: m.name,
      path,
      repository: m.repository,
      ...(b ? { from: b.commit } : {}),
      ...(h ? { to: h.commit } : {}),
      files,
    });
  }
  return out;
}

/** A full commit id, not the all-zero one GitHub sends for "no commit". */
const isCommit = (ref: string) => FULL_SHA.test(ref) && !ZERO_SHA.test(ref);
