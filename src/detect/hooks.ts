/**
 * A stack's hooks: per hook name, the stack's own entry, else the default one. A `script` is a
 * file of the repository at the planned commit: reached through no symlink, committed executable
 * (it runs as itself on the host). It is an input of the stack (inputs.ts), so it ships with the
 * release and a change to it changes the fingerprint. Pure.
 */
import { posix } from "node:path";
import { unsafePathReason } from "../config/repoConfig.ts";
import { HOOK_NAMES, type HookConfig, type HookName, type HooksConfig } from "../config/repoConfigSchema.ts";
import { MODE_SYMLINK } from "../git/repo.ts";
import type { PathIndex } from "./pathIndex.ts";

export const MODE_EXECUTABLE = "100755";

/** One hook of a stack, as the deploy runs it. */
export interface HookSpec {
  /** The argv, run verbatim; absent for a script. */
  run?: string[];
  /** Repo-relative path of the script, run as itself from the release. */
  script?: string;
  timeoutS: number;
  retries: number;
  backoffS: number;
  required: boolean;
}

export type StackHooks = Partial<Record<HookName, HookSpec>>;

/** Where a hook's setting was written: the stack's own entry, or `defaults`. */
export type HookOrigin = "stack" | "defaults";

/**
 * The hooks of one stack, or undefined when it has none. `fail(origin, key, message)` reports a
 * script that cannot run (`key` relative to the `hooks` mapping it was written in).
 */
export function resolveHooks(
  own: HooksConfig | undefined,
  defaults: HooksConfig | undefined,
  index: PathIndex,
  fail: (origin: HookOrigin, key: PropertyKey[], message: string) => void,
): StackHooks | undefined {
  const hooks: StackHooks = {};
  for (const name of HOOK_NAMES) {
    const origin: HookOrigin = own?.[name] ? "stack" : "defaults";
    const config = own?.[name] ?? defaults?.[name];
    if (!config) continue;
    hooks[name] = specOf(config);
    if (config.script === undefined) continue;
    const why = scriptProblem(config.script, index);
    if (why) fail(origin, [name, "script"], why);
  }
  return Object.keys(hooks).length ? hooks : undefined;
}

function specOf(c: HookConfig): HookSpec {
  return {
    ...(c.run ? { run: c.run } : {}),
    ...(c.script !== undefined ? { script: posix.normalize(c.script) } : {}),
    timeoutS: c.timeout,
    retries: c.retries,
    backoffS: c.backoff,
    required: c.required,
  };
}

/** Why a hook script cannot run from a release, if it cannot. */
function scriptProblem(script: string, index: PathIndex): string | undefined {
  // An absolute path or `..` is the config's error already (repoConfig.ts).
  if (unsafePathReason(script)) return undefined;
  const path = posix.normalize(script);
  for (let p = path; p && p !== "."; p = posix.dirname(p))
    if (index.tree.get(p)?.mode === MODE_SYMLINK)
      return `hook script ${path}: ${p} is a symlink; a hook script must be a file of the repository`;
  const entry = index.tree.get(path);
  const kind = index.kind(path);
  if (kind === "dir") return `hook script ${path} is a directory`;
  if (!entry || kind !== "file") return `hook script ${path} does not exist at this commit`;
  if (entry.mode !== MODE_EXECUTABLE)
    return `hook script ${path} is not executable in git (mode ${entry.mode}); it runs as itself: git update-index --chmod=+x ${path}`;
  return undefined;
}

/** The scripts among a stack's hooks (inputs of the stack). */
export function hookScripts(hooks: StackHooks | undefined): string[] {
  return Object.values(hooks ?? {}).flatMap((h) => (h.script === undefined ? [] : [h.script]));
}

/** How one hook differs between two versions of a stack. */
export interface HookChange {
  hook: HookName;
  change: "added" | "modified" | "removed";
}

/**
 * The hooks that differ between a stack's base and head definitions, in the order hooks run: a
 * hook another commit adds, drops or rewrites (command, timeout, retries, ...). A script's content
 * is not compared here: it is an input of the stack and changes as a file does.
 */
export function hookChanges(base: StackHooks | undefined, head: StackHooks | undefined): HookChange[] {
  return HOOK_NAMES.flatMap((hook): HookChange[] => {
    const b = base?.[hook];
    const h = head?.[hook];
    if (!b && !h) return [];
    if (!b) return [{ hook, change: "added" }];
    if (!h) return [{ hook, change: "removed" }];
    return JSON.stringify(b) === JSON.stringify(h) ? [] : [{ hook, change: "modified" }];
  });
}
