/**
 * Per host decisions: what one target host does with one stack (deploy, skip or remove), and why.
 * Pure. The first rule that applies decides: a deleted stack, a stop on purpose, force, the
 * deployed record (pinned, identical, different), and without one, what the range changed.
 */
import type { StackChange } from "../detect/changes.ts";
import type { StackSnapshot } from "../detect/snapshot.ts";
import type { StackDef } from "../detect/stacks.ts";
import { short } from "../git/range.ts";
import type { Action, DeployedRecord, StoppedRef, TargetPlan } from "./plan.ts";

/** One stack as its hosts' decisions see it. */
export interface StackFacts {
  name: string;
  /** The head's definition, or the base's for a stack the range deletes. */
  def: StackDef;
  /** The stack at the head; undefined when the range deletes it. */
  head: StackSnapshot | undefined;
  change: StackChange | undefined;
  /** What changed in the stack, in words (plan.ts `stackReasons`). */
  reasons: string[];
  /** The hosts the base targeted, when the stack exists at both ends. */
  baseTargets: ReadonlySet<string> | undefined;
}

/** What the decisions know of the hosts, the same for every stack of a plan. */
export interface HostState {
  /** Last successful deploys, by `stackHostKey`. */
  deployed: ReadonlyMap<string, DeployedRecord>;
  /** Stacks stopped on purpose, by `stackHostKey`. */
  stopped: ReadonlyMap<string, StoppedRef>;
  /** Whether deployed state was given at all: without it, "changed in this range" decides. */
  hasDeployed: boolean;
  force: boolean;
}

type Decision = Pick<TargetPlan, "action" | "reasons">;

/** The key of a (stack, host) pair in `HostState`'s maps. */
export const stackHostKey = (stack: string, host: string): string => `${stack}\0${host}`;

/** The stack's target on `host`: its decision, and what is deployed there when that is known. */
export function planTarget(stack: StackFacts, host: string, state: HostState): TargetPlan {
  const rec = state.deployed.size > 0 ? state.deployed.get(stackHostKey(stack.name, host)) : undefined;
  const { action, reasons } = decide(stack, host, rec, state);
  return {
    host,
    action,
    reasons,
    ...(rec ? { deployed: { commit: rec.commit, fingerprint: rec.fingerprint } } : {}),
  };
}

function decide(
  stack: StackFacts,
  host: string,
  rec: DeployedRecord | undefined,
  state: HostState,
): Decision {
  if (!stack.head) return deleted(stack.def);
  const stop = state.stopped.size > 0 ? state.stopped.get(stackHostKey(stack.name, host)) : undefined;
  // A stop outranks force: the stack stays down until someone starts it.
  if (stop) return stopped(stack.name, stop);
  if (state.force) return decision("deploy", ["forced", ...stack.reasons]);
  if (rec) return versusDeployed(stack, stack.head, rec);
  return undeployed(stack, host, state.hasDeployed);
}

function deleted(def: StackDef): Decision {
  return def.prune
    ? decision("remove", ["stack deleted; prune is on"])
    : decision("skip", ["stack deleted; prune is off, so it keeps running"]);
}

function stopped(name: string, stop: StoppedRef): Decision {
  const by = stop.actor ? ` by ${stop.actor}` : "";
  return decision("skip", [`stopped on purpose${by}; \`stackpilot start ${name}\` undoes it`]);
}

/** A host with a deployed record: compared by fingerprint, unless a rollback pinned it. */
function versusDeployed(stack: StackFacts, head: StackSnapshot, rec: DeployedRecord): Decision {
  if (rec.pinned)
    return decision("skip", [`pinned by a rollback to ${short(rec.commit)}; deploy it explicitly to unpin`]);
  if (rec.fingerprint === head.fingerprint)
    return decision("skip", [`identical to what is deployed at ${short(rec.commit)}`]);
  return decision(
    "deploy",
    stack.change?.contentChanged ? stack.reasons : [`differs from what is deployed at ${short(rec.commit)}`],
  );
}

/** A host without a record: new when the state is known, else what the range changed decides. */
function undeployed(stack: StackFacts, host: string, hasDeployed: boolean): Decision {
  if (hasDeployed) return decision("deploy", [`never deployed to ${host}`, ...stack.reasons]);
  if (stack.change?.contentChanged) return decision("deploy", stack.reasons);
  if (stack.baseTargets && !stack.baseTargets.has(host))
    return decision("deploy", [`${host} is a new target`]);
  return decision("skip", ["unchanged"]);
}

const decision = (action: Action, reasons: string[]): Decision => ({ action, reasons });
