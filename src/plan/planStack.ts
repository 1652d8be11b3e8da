/**
 * One stack's part of the plan (plan.ts `buildPlan` calls it per stack): its facts and reasons,
 * each target host's decision (hostDecisions.ts), the mount policy, its hooks, and the warnings
 * and problems it adds to the plan's. Pure.
 */
import type { Problem } from "../config/problems.ts";
import { CONFIG_PATH, type HookName, type HostSelector } from "../config/repoConfigSchema.ts";
import { commandLine } from "../deploy/shell.ts";
import type { StackChange } from "../detect/changes.ts";
import type { HookChange, StackHooks } from "../detect/hooks.ts";
import type { StackSnapshot } from "../detect/snapshot.ts";
import type { StackDef } from "../detect/stacks.ts";
import { asBroken, type OwnedProblems } from "./broken.ts";
import { type HostState, planTarget, type StackFacts } from "./hostDecisions.ts";
import { applyMountPolicy } from "./mountPolicy.ts";
import type { HostRef, PlanInput, PlannedHook, StackPlan, TargetPlan } from "./plan.ts";

/** A host list resolved (plan.ts `resolveTargets`), with its names as a set. */
export interface ResolvedTargets {
  hosts: string[];
  warnings: string[];
  set: ReadonlySet<string>;
}

/** What planning every stack shares, built once per plan. */
export interface PlanContext {
  input: PlanInput;
  hosts: HostState;
  hostsByName: ReadonlyMap<string, HostRef>;
  stackOk: (name: string) => boolean;
  hostOk: (host: string) => boolean;
  targetsOf: (selectors: readonly HostSelector[]) => ResolvedTargets;
}

/** One stack's part of the plan, and the problems it adds to the plan's. */
export interface PlannedStack {
  plan: StackPlan;
  /** Its head's problems, reported once for all stacks (broken.ts `stackProblems`). */
  owned?: OwnedProblems;
  mountProblems: Problem[];
  warnings: Problem[];
}

export function planStack(ctx: PlanContext, name: string): PlannedStack {
  const facts = stackFacts(ctx, name);
  const { head } = facts;
  const resolved = ctx.targetsOf(facts.def.hosts);
  const warnings = resolved.warnings.map((message) => warning(name, message));
  const decided = resolved.hosts
    .filter((host) => ctx.hostOk(host))
    .map((host) => planTarget(facts, host, ctx.hosts));
  const { targets, problems } = head
    ? checkMounts(facts, head, decided, ctx.hostsByName)
    : { targets: decided, problems: [] };
  if (!head && !facts.def.prune) warnings.push(keptRunning(name, resolved.hosts));
  const stack = stackPlan(facts, targets);
  const errors = head?.problems.filter((p) => p.severity === "error") ?? [];
  return {
    plan: errors.length ? asBroken(stack, errors) : stack,
    ...(head ? { owned: { stack: name, changed: stack.changed, problems: head.problems } } : {}),
    mountProblems: problems,
    warnings,
  };
}

function stackFacts(ctx: PlanContext, name: string): StackFacts {
  const { base, head, changes } = ctx.input;
  const h = head.stacks.get(name);
  const b = base.stacks.get(name);
  const change = changes.get(name);
  return {
    name,
    def: (h ?? b)?.def as StackDef,
    head: h,
    change,
    reasons: stackReasons(change),
    baseTargets: b && h ? ctx.targetsOf(b.def.hosts).set : undefined,
  };
}

/** Mounts a host refuses skip that host only; an error where the range changes the stack. */
function checkMounts(
  facts: StackFacts,
  head: StackSnapshot,
  targets: TargetPlan[],
  hostsByName: ReadonlyMap<string, HostRef>,
): { targets: TargetPlan[]; problems: Problem[] } {
  const checked = applyMountPolicy(facts.name, head.compose.absoluteMounts, targets, hostsByName);
  const changedHere = changedInRange(facts.change);
  const problems = checked.problems.map(
    (p): Problem =>
      changedHere ? p : { ...p, severity: "warning", message: `${p.message} (unchanged in this range)` },
  );
  return { targets: checked.targets, problems };
}

function stackPlan(facts: StackFacts, targets: TargetPlan[]): StackPlan {
  const { def, head: h, change } = facts;
  return {
    name: facts.name,
    path: def.path,
    ...(def.environment ? { environment: def.environment } : {}),
    changed: changedInRange(change),
    contentChanged: !!change?.contentChanged,
    ...(h ? { fingerprint: h.fingerprint } : {}),
    reasons: facts.reasons,
    files: change?.files ?? [],
    targets,
    ...(h?.def.hooks ? { hooks: plannedHooks(h.def.hooks, change?.hooks) } : {}),
  };
}

/** Whether the range changes the stack: its content or its targets. */
const changedInRange = (change: StackChange | undefined): boolean =>
  !!change && (change.contentChanged || change.targetsChanged);

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

const STATUS_WORD: Record<string, string> = {
  A: "added",
  M: "modified",
  D: "deleted",
  R: "renamed",
  C: "copied",
  T: "type changed",
};

/** What the range changed in a stack, in words: the reasons its targets deploy. */
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

/** A deleted stack without prune stays up: say where, since nothing will take it down. */
function keptRunning(name: string, hosts: readonly string[]): Problem {
  return warning(
    name,
    `stack "${name}" was deleted but prune is off: it keeps running on ${hosts.join(", ") || "its hosts"}`,
  );
}

/** A warning about a stack in the plan, at the repository's config (where stacks and rules are written). */
function warning(stack: string, message: string): Problem {
  return configWarning(`stack ${stack}`, message);
}

/** A warning at `key` of `.github/stackpilot.yml`, with no line to point at. */
export function configWarning(key: string, message: string): Problem {
  return { file: CONFIG_PATH, line: 0, col: 0, key, message, severity: "warning" };
}
