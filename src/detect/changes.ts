/**
 * Changed paths -> affected stacks. A stack is affected when a changed path is one of its inputs
 * at the base or at the head (so added, deleted and renamed files count on both sides), or when
 * its deploy config changed. Pure.
 */
import type { Change, ChangeStatus } from "../git/repo.ts";
import { type HookChange, hookChanges } from "./hooks.ts";
import { deployConfigOf, inputReason } from "./inputs.ts";
import { ownersOf, type Snapshot, type StackSnapshot } from "./snapshot.ts";

export interface ChangedFile {
  path: string;
  status: ChangeStatus;
  oldPath?: string;
  /** Why the file belongs to the stack when it is not inside the stack directory. */
  via?: string;
}

export interface StackChange {
  name: string;
  /** The stack's fingerprint differs between base and head. */
  contentChanged: boolean;
  /** Only where it deploys changed (hosts, environment). */
  targetsChanged: boolean;
  added: boolean;
  removed: boolean;
  files: ChangedFile[];
  /** Deploy-config keys that changed in `.github/stackpilot.yml`, hooks apart. */
  configKeys: string[];
  /** Hooks added, removed or rewritten (in the stack's entry or the defaults it inherits). */
  hooks: HookChange[];
}

export function mapChanges(
  base: Snapshot,
  head: Snapshot,
  changes: readonly Change[],
): Map<string, StackChange> {
  const result = new Map<string, StackChange>();
  addChangedFiles(result, base, head, changes);
  for (const name of base.stacks.keys()) compareDefs(result, name, base, head);
  for (const name of head.stacks.keys()) if (!base.stacks.has(name)) compareDefs(result, name, base, head);
  return result;
}

/** Each changed path to the stacks it is an input of, at the base or at the head. */
function addChangedFiles(
  result: Map<string, StackChange>,
  base: Snapshot,
  head: Snapshot,
  changes: readonly Change[],
): void {
  // Owner indexes are built once per snapshot and kept with it (snapshots are cached per commit).
  const baseOwners = ownersOf(base);
  const headOwners = ownersOf(head);
  const none: readonly string[] = [];
  const ownersAt = (path: string) => [...(baseOwners.get(path) ?? none), ...(headOwners.get(path) ?? none)];
  for (const change of changes) {
    const hit = new Set([...ownersAt(change.path), ...(change.oldPath ? ownersAt(change.oldPath) : none)]);
    for (const name of hit) {
      const c = entry(result, name);
      c.contentChanged = true;
      const via =
        viaOf(head.stacks.get(name), change.path) ??
        viaOf(base.stacks.get(name), change.oldPath ?? change.path);
      c.files.push({
        path: change.path,
        status: change.status,
        ...(change.oldPath ? { oldPath: change.oldPath } : {}),
        ...(via ? { via } : {}),
      });
    }
  }
}

/** A stack's definition at both ends: added, removed, its deploy config or only its targets changed. */
function compareDefs(result: Map<string, StackChange>, name: string, base: Snapshot, head: Snapshot): void {
  const b = base.stacks.get(name);
  const h = head.stacks.get(name);
  if (!b || !h) {
    const c = entry(result, name);
    c.contentChanged = true;
    if (!b) c.added = true;
    else c.removed = true;
    return;
  }
  if (b.def === h.def) return; // shared by an incremental snapshot: nothing to compare
  const keys = diffKeys(deployConfigOf(b.def), deployConfigOf(h.def));
  if (keys.length) {
    const c = entry(result, name);
    c.contentChanged = true;
    c.configKeys = keys.filter((k) => k !== "hooks");
    c.hooks = hookChanges(b.def.hooks, h.def.hooks);
  }
  if (JSON.stringify([b.def.hosts, b.def.environment]) !== JSON.stringify([h.def.hosts, h.def.environment])) {
    entry(result, name).targetsChanged = true;
  }
}

/** The stack's change in `result`, added as "nothing changed" on first mention. */
function entry(result: Map<string, StackChange>, name: string): StackChange {
  let c = result.get(name);
  if (!c) {
    c = {
      name,
      contentChanged: false,
      targetsChanged: false,
      added: false,
      removed: false,
      files: [],
      configKeys: [],
      hooks: [],
    };
    result.set(name, c);
  }
  return c;
}

function viaOf(stack: StackSnapshot | undefined, path: string): string | undefined {
  return stack && inputReason(stack.def, stack.compose, stack.inputs, path);
}

function diffKeys(a: Record<string, unknown>, b: Record<string, unknown>): string[] {
  return Object.keys({ ...a, ...b }).filter((k) => JSON.stringify(a[k]) !== JSON.stringify(b[k]));
}
