/**
 * When a stage or step runs (pure): `if` relative to the earlier stages of its procedure, and
 * `when_modified` against the files the triggering range changed.
 */
import { compileGlob } from "../util/glob.ts";

export interface Conditions {
  if?: "success" | "failure" | "always" | undefined;
  when_modified?: string[] | undefined;
}

/**
 * Why it is skipped, or undefined when it runs. `changed` undefined: no range is known (a run from
 * the CLI, a schedule, a trigger without a push payload), so nothing counts as unmodified.
 */
export function skipReason(
  c: Conditions,
  failedBefore: boolean,
  changed: readonly string[] | undefined,
): string | undefined {
  const when = c.if ?? "success";
  if (when === "success" && failedBefore) return "an earlier stage failed";
  if (when === "failure" && !failedBefore) return "if: failure, and no earlier stage failed";
  if (c.when_modified && changed && !anyMatch(c.when_modified, changed))
    return `when_modified: no changed file matches ${c.when_modified.join(", ")}`;
  return undefined;
}

export function anyMatch(globs: readonly string[], files: readonly string[]): boolean {
  const match = compileGlob(globs, { dot: true });
  return files.some(match);
}
