/**
 * Broken stacks: a stack whose compose project or definition has errors is planned like any other,
 * but none of its targets deploys, and its errors are reported by whether the planned range
 * changed it. Pure.
 */
import type { Problem } from "../config/problems.ts";
import type { StackPlan } from "./plan.ts";

/** A stack's problems, and whether the planned range changes the stack. */
export interface OwnedProblems {
  stack: string;
  changed: boolean;
  problems: readonly Problem[];
}

/**
 * The stacks' problems as the plan reports them: each once (a problem in a shared file belongs to
 * every stack reading it), errors naming the stacks they break; an error of stacks the range does
 * not change is a warning, since this change did not break them.
 */
export function stackProblems(owned: readonly OwnedProblems[]): Problem[] {
  const byKey = new Map<string, { problem: Problem; stacks: string[]; changed: boolean }>();
  for (const { stack, changed, problems } of owned) {
    for (const p of problems) {
      const key = [p.file, p.line, p.col, p.key, p.severity, p.message].join("\0");
      const seen = byKey.get(key);
      if (seen) {
        seen.stacks.push(stack);
        seen.changed ||= changed;
      } else byKey.set(key, { problem: p, stacks: [stack], changed });
    }
  }
  return [...byKey.values()].map(({ problem: p, stacks, changed }) => {
    if (p.severity !== "error") return p;
    const who =
      stacks.length === 1
        ? `stack "${stacks[0]}" is`
        : `stacks ${stacks.map((s) => `"${s}"`).join(", ")} are`;
    return changed
      ? { ...p, message: `${p.message} (${who} broken: not deployed)` }
      : {
          ...p,
          severity: "warning",
          message: `${p.message} (${who} broken and not deployed; unchanged in this range)`,
        };
  });
}

/** The stack, broken by `errors`: it is not deployed, and every target says why. */
export function asBroken(stack: StackPlan, errors: readonly Problem[]): StackPlan {
  const broken = [...(stack.broken ?? []), ...errors];
  const why = `broken: ${brokenReason(broken)}`;
  return {
    ...stack,
    broken,
    targets: stack.targets.map((t) => ({ ...t, action: "skip", reasons: [why] })),
  };
}

/** Why a broken stack is not deployed: its first error, and how many more it has. */
export function brokenReason(errors: readonly Problem[]): string {
  const first = errors[0];
  if (!first) return "no error recorded";
  const more = errors.length - 1;
  return `${errorAt(first)}${more ? ` (and ${more} more error${more === 1 ? "" : "s"})` : ""}`;
}

/** `stacks/a/compose.yaml:3:5 duplicate key`: a problem in a few words, for reasons and notices. */
export function errorAt(p: Problem): string {
  return `${p.line > 0 ? `${p.file}:${p.line}:${p.col}` : p.file} ${p.message}`;
}
