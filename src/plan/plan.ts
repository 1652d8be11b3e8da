/**
 * The plan: for every stack x target host, deploy / skip / remove, and why.
 * A pure function of (snapshots, changes, host inventory, deployed state): same input, same plan.
 */
import type { Problem } from "../config/problems.ts";
import type { HookName, HostSelector } from "../config/repoConfigSchema.ts";
import type { StackChange } from "../detect/changes.ts";
import type { Snapshot } from "../detect/snapshot.ts";
import type { CommitRange } from "../git/range.ts";
import { compileGlob, scanGlob } from "../util/glob.ts";
import { stackProblems } from "./broken.ts";
import { stackHostKey } from "./hostDecisions.ts";
import { type PlanContext, planStack, type ResolvedTargets } from "./planStack.ts";

export { plannedHooks } from "./planStack.ts";

export interface HostRef {
  name: string;
  labels: Record<string, string>;
  /** Environments (globs) the host takes deploys of; empty or absent: any (hosts file). */
  environments?: readonly string[];
  /** Repositories (globs) the host takes deploys from; empty or absent: any (hosts file). */
  repos?: readonly string[];
  /** Absolute host paths its stacks may bind-mount (mountPolicy.ts); unset: checked at deploy only. */
  allowedMountRoots?: readonly string[];
}

/** What was last deployed successfully for a (stack, host), from the state store or a state file. */
export interface DeployedRecord {
  stack: string;
  host: string;
  fingerprint: string;
  commit: string;
  /** Set by a rollback: automatic deploys leave the host alone until an explicit deploy. */
  pinned?: boolean;
}

/** A stack stopped on purpose on a host (`stackpilot stop`): never started by a plan. */
export interface StoppedRef {
  stack: string;
  host: string;
  actor?: string;
}

export type Action = "deploy" | "skip" | "remove";

export interface TargetPlan {
  host: string;
  action: Action;
  reasons: string[];
  deployed?: { commit: string; fingerprint: string };
  /** Image operations this host runs first (`login <registry>`, `pull <image>`); see images.ts. */
  imageOps?: string[];
  /** Services whose image changed since the deployed commit: pulled before `up` (images.ts). */
  pull?: string[];
}

/** One image of a stack with `build:`: built (and pushed) now, or reused from an earlier build. */
export interface BuildPlan {
  stack: string;
  service: string;
  builder: string;
  image: string;
  action: "build" | "reuse";
  reason: string;
}

/** A hook the stack's deploys run on each target host (detect/hooks.ts, deploy/hookSteps.ts). */
export interface PlannedHook {
  hook: HookName;
  /** The script's repo-relative path, or the argv as a POSIX shell would read it. */
  command: string;
  timeoutS: number;
  retries: number;
  required: boolean;
  /** Set when base..head adds or rewrites this hook of an existing stack: a reviewer's cue. */
  change?: "added" | "modified";
}

export interface StackPlan {
  name: string;
  path: string;
  environment?: string;
  /** Content or targets changed between base and head. */
  changed: boolean;
  contentChanged: boolean;
  fingerprint?: string;
  reasons: string[];
  files: StackChange["files"];
  targets: TargetPlan[];
  /** The hooks each of its deploys runs (content of the head, like its compose files). */
  hooks?: PlannedHook[];
  /**
   * Set when the stack is broken (its compose project or its definition has errors, or its images
   * cannot be planned): those errors. It is not deployed: every target is `skip`, its reason
   * naming the first error.
   */
  broken?: Problem[];
}

/** A mounted repository (git submodule, source) whose commit differs between base and head. */
export interface PlanMount {
  kind: "submodule" | "source";
  name: string;
  path: string;
  repository: string;
  /** Its commit at the base; absent when it was not mounted there. */
  from?: string;
  /** Its commit at the head; absent when it is not mounted there. */
  to?: string;
  /** Files that changed inside it. */
  files: number;
}

export interface Plan {
  version: 1;
  base: string;
  head: string;
  baseNote?: string;
  /**
   * The plan check's conclusion (`/deploy` requires it): false when the repo config is invalid,
   * when a stack this range changes is broken, or when an error belongs to no stack (such as a
   * directory that cannot be a stack). An untouched broken stack leaves it true.
   */
  ok: boolean;
  /**
   * False only when the repo config itself is invalid: no stack can be known, nothing may deploy.
   * Otherwise every target whose action is deploy or remove may run (a broken stack's are skip).
   */
  deployable: boolean;
  /**
   * Every problem once. A broken stack's errors stay errors when this range changes the stack,
   * and become warnings saying it is not deployed when it does not.
   */
  problems: Problem[];
  stacks: StackPlan[];
  /** Image builds, when the plan was made with a hosts file naming builders (see images.ts). */
  builds?: BuildPlan[];
  /** Submodules and sources whose commit moved in the range ("source utils: a1b2c3 -> d4e5f6 (3 files)"). */
  mounts?: PlanMount[];
  summary: {
    stacks: number;
    changed: number;
    /** Stacks not deployed because of their errors. */
    broken: number;
    deploy: number;
    skip: number;
    remove: number;
  };
}

export interface PlanInput {
  range: CommitRange;
  base: Snapshot;
  head: Snapshot;
  changes: Map<string, StackChange>;
  /** The host inventory; without it, host names in the config are taken as they are. */
  hosts?: HostRef[];
  /** Deployed state; without it, "changed in this range" decides. */
  deployed?: DeployedRecord[];
  force?: boolean;
  /** Globs restricting which stacks and hosts are planned. */
  only?: { stacks?: string[]; hosts?: string[] };
  /** Stacks stopped on purpose: skipped ("stopped on purpose"), even when forced, until started. */
  stopped?: readonly StoppedRef[];
}

/**
 * The plan, one stack at a time (sorted by name): its facts, each target host's decision, the
 * mount policy, then its warnings and problems; problems are gathered in a fixed order.
 */
export function buildPlan(input: PlanInput): Plan {
  const deployable = input.head.configValid;
  const ctx = planContext(input);
  const names = deployable ? stackNames(input.base, input.head) : [];
  const planned = names.filter((name) => ctx.stackOk(name)).map((name) => planStack(ctx, name));
  const stacks = planned.map((p) => p.plan);
  const problems = [
    ...input.head.problems,
    ...stackProblems(planned.flatMap((p) => p.owned ?? [])),
    ...planned.flatMap((p) => p.mountProblems),
    ...planned.flatMap((p) => p.warnings),
  ];
  return {
    version: 1,
    base: input.range.base,
    head: input.range.head,
    ...(input.range.note ? { baseNote: input.range.note } : {}),
    ok: deployable && !problems.some((p) => p.severity === "error"),
    deployable,
    problems,
    stacks,
    summary: summarize(stacks),
  };
}

function planContext(input: PlanInput): PlanContext {
  const only = input.only;
  return {
    input,
    hosts: {
      deployed: new Map((input.deployed ?? []).map((d) => [stackHostKey(d.stack, d.host), d])),
      stopped: new Map((input.stopped ?? []).map((x) => [stackHostKey(x.stack, x.host), x])),
      hasDeployed: !!input.deployed,
      force: !!input.force,
    },
    hostsByName: new Map((input.hosts ?? []).map((h) => [h.name, h])),
    stackOk: only?.stacks?.length ? compileGlob(only.stacks) : () => true,
    hostOk: only?.hosts?.length ? compileGlob(only.hosts) : () => true,
    targetsOf: targetResolver(input.hosts),
  };
}

/** Stacks of one environment share its host list: resolve each list once, not once per stack. */
function targetResolver(hosts: readonly HostRef[] | undefined): PlanContext["targetsOf"] {
  const resolved = new Map<readonly HostSelector[], ResolvedTargets>();
  return (selectors) => {
    let r = resolved.get(selectors);
    if (!r) {
      const { hosts: names, warnings } = resolveTargets(selectors, hosts);
      r = { hosts: names, warnings, set: new Set(names) };
      resolved.set(selectors, r);
    }
    return r;
  };
}

/** Every stack at either end, by name. */
function stackNames(base: Snapshot, head: Snapshot): string[] {
  return [...new Set([...base.stacks.keys(), ...head.stacks.keys()])].sort();
}

/** Totals of a plan's stacks (also for a plan cut down to some of them). */
export function summarize(stacks: readonly StackPlan[]): Plan["summary"] {
  const summary = { stacks: stacks.length, changed: 0, broken: 0, deploy: 0, skip: 0, remove: 0 };
  for (const s of stacks) {
    if (s.changed) summary.changed++;
    if (s.broken) summary.broken++;
    for (const t of s.targets) summary[t.action]++;
  }
  return summary;
}

/** Host selectors -> host names. Names may be globs; label selectors need the inventory. */
export function resolveTargets(
  selectors: readonly HostSelector[],
  hosts?: readonly HostRef[],
): { hosts: string[]; warnings: string[] } {
  const out = new Set<string>();
  const warnings: string[] = [];
  for (const sel of selectors) {
    if (typeof sel === "string") {
      if (!hosts) {
        if (scanGlob(sel).isGlob) warnings.push(`host pattern "${sel}" needs a hosts file to resolve`);
        else out.add(sel);
        continue;
      }
      const isMatch = compileGlob(sel);
      const matched = hosts.filter((h) => isMatch(h.name));
      if (matched.length === 0) warnings.push(`no host in the hosts file matches "${sel}"`);
      for (const h of matched) out.add(h.name);
    } else {
      const text = Object.entries(sel)
        .map(([k, v]) => `${k}=${v}`)
        .join(",");
      if (!hosts) {
        warnings.push(`label selector {${text}} needs a hosts file to resolve`);
        continue;
      }
      const matched = hosts.filter((h) => Object.entries(sel).every(([k, v]) => h.labels[k] === v));
      if (matched.length === 0) warnings.push(`no host in the hosts file has labels {${text}}`);
      for (const h of matched) out.add(h.name);
    }
  }
  return { hosts: [...out].sort(), warnings };
}
