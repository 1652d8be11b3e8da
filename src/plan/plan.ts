/**
 * The plan: for every stack x target host, deploy / skip / remove, and why.
 * A pure function of (snapshots, changes, host inventory, deployed state): same input, same plan.
 */
import type { Problem } from "../config/problems.ts";
import type { HookName, HostSelector } from "../config/repoConfigSchema.ts";
import { commandLine } from "../deploy/shell.ts";
import type { StackChange } from "../detect/changes.ts";
import type { HookChange, StackHooks } from "../detect/hooks.ts";
import type { Snapshot } from "../detect/snapshot.ts";
import type { StackDef } from "../detect/stacks.ts";
import { type CommitRange, short } from "../git/range.ts";
import { compileGlob, scanGlob } from "../util/glob.ts";
import { asBroken, type OwnedProblems, stackProblems } from "./broken.ts";
import { applyMountPolicy } from "./mountPolicy.ts";

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

export function buildPlan(input: PlanInput): Plan {
  const { base, head, changes } = input;
  const deployable = head.configValid;
  const warnings: Problem[] = [];
  const mounts: Problem[] = [];
  const owned: OwnedProblems[] = [];
  const deployed = new Map((input.deployed ?? []).map((d) => [`${d.stack}\0${d.host}`, d]));
  const stackOk = input.only?.stacks?.length ? compileGlob(input.only.stacks) : () => true;
  const hostsByName = new Map((input.hosts ?? []).map((h) => [h.name, h]));
  const hostOk = input.only?.hosts?.length ? compileGlob(input.only.hosts) : () => true;
  const stopped = new Map((input.stopped ?? []).map((x) => [`${x.stack}\0${x.host}`, x]));

  // Stacks of one environment share its host list: resolve each list once, not once per stack.
  type Resolved = ReturnType<typeof resolveTargets> & { set: ReadonlySet<string> };
  const resolvedTargets = new Map<readonly HostSelector[], Resolved>();
  const targetsOf = (selectors: readonly HostSelector[]): Resolved => {
    let r = resolvedTargets.get(selectors);
    if (!r) {
      const { hosts, warnings } = resolveTargets(selectors, input.hosts);
      r = { hosts, warnings, set: new Set(hosts) };
      resolvedTargets.set(selectors, r);
    }
    return r;
  };
  const stacks: StackPlan[] = [];
  const names = deployable ? [...new Set([...base.stacks.keys(), ...head.stacks.keys()])].sort() : [];
  for (const name of names) {
    if (!stackOk(name)) continue;
    const h = head.stacks.get(name);
    const b = base.stacks.get(name);
    const def = (h ?? b)?.def as StackDef;
    const change = changes.get(name);
    const reasons = stackReasons(change);
    const resolved = targetsOf(def.hosts);
    for (const message of resolved.warnings) warnings.push(warning(name, message));
    const baseTargets = b && h ? targetsOf(b.def.hosts).set : undefined;

    let targets: TargetPlan[] = [];
    for (const host of resolved.hosts) {
      if (!hostOk(host)) continue;
      const rec = deployed.size > 0 ? deployed.get(`${name}\0${host}`) : undefined;
      const target = (action: Action, why: string[]): TargetPlan => ({
        host,
        action,
        reasons: why,
        ...(rec ? { deployed: { commit: rec.commit, fingerprint: rec.fingerprint } } : {}),
      });
      if (!h) {
        targets.push(
          def.prune
            ? target("remove", ["stack deleted; prune is on"])
            : target("skip", ["stack deleted; prune is off, so it keeps running"]),
        );
        continue;
      }
      const stop = stopped.size > 0 ? stopped.get(`${name}\0${host}`) : undefined;
      if (stop)
        targets.push(
          target("skip", [
            `stopped on purpose${stop.actor ? ` by ${stop.actor}` : ""}; \`stackpilot start ${name}\` undoes it`,
          ]),
        );
      else if (input.force) targets.push(target("deploy", ["forced", ...reasons]));
      else if (rec?.pinned)
        targets.push(
          target("skip", [`pinned by a rollback to ${short(rec.commit)}; deploy it explicitly to unpin`]),
        );
      else if (rec && rec.fingerprint === h.fingerprint) {
        targets.push(target("skip", [`identical to what is deployed at ${short(rec.commit)}`]));
      } else if (rec) {
        targets.push(
          target(
            "deploy",
            change?.contentChanged ? reasons : [`differs from what is deployed at ${short(rec.commit)}`],
          ),
        );
      } else if (input.deployed) targets.push(target("deploy", [`never deployed to ${host}`, ...reasons]));
      else if (change?.contentChanged) targets.push(target("deploy", reasons));
      else if (baseTargets && !baseTargets.has(host))
        targets.push(target("deploy", [`${host} is a new target`]));
      else targets.push(target("skip", ["unchanged"]));
    }
    if (h) {
      // Mounts a host refuses skip that host only; an error where the range changes the stack.
      const checked = applyMountPolicy(name, h.compose.absoluteMounts, targets, hostsByName);
      targets = checked.targets;
      const changedHere = !!change && (change.contentChanged || change.targetsChanged);
      for (const p of checked.problems)
        mounts.push(
          changedHere ? p : { ...p, severity: "warning", message: `${p.message} (unchanged in this range)` },
        );
    }
    if (!h && !def.prune)
      warnings.push(
        warning(
          name,
          `stack "${name}" was deleted but prune is off: it keeps running on ${resolved.hosts.join(", ") || "its hosts"}`,
        ),
      );

    const stack: StackPlan = {
      name,
      path: def.path,
      ...(def.environment ? { environment: def.environment } : {}),
      changed: !!change && (change.contentChanged || change.targetsChanged),
      contentChanged: !!change?.contentChanged,
      ...(h ? { fingerprint: h.fingerprint } : {}),
      reasons,
      files: change?.files ?? [],
      targets,
      ...(h?.def.hooks ? { hooks: plannedHooks(h.def.hooks, change?.hooks) } : {}),
    };
    const errors = h?.problems.filter((p) => p.severity === "error") ?? [];
    if (h) owned.push({ stack: name, changed: stack.changed, problems: h.problems });
    stacks.push(errors.length ? asBroken(stack, errors) : stack);
  }

  const problems = [...head.problems, ...stackProblems(owned), ...mounts, ...warnings];
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

/** A stack's hooks as the plan shows them, in the order they run, marked where `changes` names them. */
export function plannedHooks(hooks: StackHooks, changes: readonly HookChange[] = []): PlannedHook[] {
  return Object.entries(hooks).map(([hook, h]) => {
    const change = changes.find((c) => c.hook === hook)?.change;
    return {
      hook: hook as HookName,
      command: h.script ?? commandLine(h.run ?? []),
      timeoutS: h.timeoutS,
      retries: h.retries,
      required: h.required,
      ...(change === "added" || change === "modified" ? { change } : {}),
    };
  });
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

const STATUS_WORD: Record<string, string> = {
  A: "added",
  M: "modified",
  D: "deleted",
  R: "renamed",
  C: "copied",
  T: "type changed",
};

function stackReasons(change: StackChange | undefined): string[] {
  if (!change) return [];
  const reasons: string[] = [];
  if (change.added) reasons.push("new stack");
  if (change.removed) reasons.push("stack deleted");
  for (const f of change.files) {
    const what = f.oldPath ? `${f.oldPath} -> ${f.path}` : f.path;
    reasons.push(`${what} ${STATUS_WORD[f.status] ?? f.status}${f.via ? ` (${f.via})` : ""}`);
  }
  if (change.configKeys.length) reasons.push(`config changed: ${change.configKeys.join(", ")}`);
  if (change.hooks.length)
    reasons.push(`hooks changed: ${change.hooks.map((c) => `${c.hook} ${c.change}`).join(", ")}`);
  if (change.targetsChanged) reasons.push("targets changed");
  return reasons;
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

function warning(stack: string, message: string): Problem {
  return {
    file: ".github/stackpilot.yml",
    line: 0,
    col: 0,
    key: `stack ${stack}`,
    message,
    severity: "warning",
  };
}
