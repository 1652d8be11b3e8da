/**
 * Stack and host patterns of procedures and triggers: a stack is chosen by glob (`db-*`), by a
 * regular expression (`re:^db-[0-9]+$`, run on RE2, see util/safeRegex.ts) or by labels
 * (`{ tier: data }`, the labels of the stack's entry on the default branch); a host by glob or
 * labels, as everywhere else (plan.ts `resolveTargets`).
 */
import { z } from "zod";
import { compileGlob, globProblem } from "../util/glob.ts";
import { compileRegex, REGEX_PREFIX, regexProblem } from "../util/safeRegex.ts";

const LABEL_KEY = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** Why a stack pattern cannot be used, or undefined. */
export function stackPatternProblem(pattern: string): string | undefined {
  if (pattern.startsWith(REGEX_PREFIX)) {
    const why = regexProblem(pattern.slice(REGEX_PREFIX.length));
    return why ? `invalid regular expression: ${why}` : undefined;
  }
  const why = globProblem(pattern);
  return why ? `invalid glob: ${why}` : undefined;
}

/** A stack by name pattern (glob or `re:`) or by labels (every label must match). */
export const StackSelector = z.union([
  z
    .string()
    .min(1)
    .max(300)
    .superRefine((value, ctx) => {
      const why = stackPatternProblem(value);
      if (why) ctx.addIssue({ code: "custom", message: why });
    }),
  z.record(z.string().regex(LABEL_KEY), z.string()),
]);
export type StackSelector = z.infer<typeof StackSelector>;

/** Labels of each stack (from the default branch's stack entries). */
export type StackLabels = ReadonlyMap<string, Readonly<Record<string, string>>>;

/** True for stacks any selector chooses. */
export function stackMatcher(
  selectors: readonly StackSelector[],
  labels: StackLabels = new Map(),
): (stack: string) => boolean {
  const globs: string[] = [];
  const tests: ((s: string) => boolean)[] = [];
  for (const sel of selectors) {
    if (typeof sel !== "string") {
      const want = Object.entries(sel);
      tests.push((s) => {
        const have = labels.get(s) ?? {};
        return want.every(([k, v]) => have[k] === v);
      });
    } else if (sel.startsWith(REGEX_PREFIX)) tests.push(compileRegex(sel.slice(REGEX_PREFIX.length)));
    else globs.push(sel);
  }
  if (globs.length) tests.push(compileGlob(globs));
  return (s) => tests.some((t) => t(s));
}

/** `db-*`, `re:^db`, `{tier=data}`: a selector as users wrote it, for messages. */
export function describeSelector(sel: StackSelector | Record<string, string>): string {
  if (typeof sel === "string") return sel;
  return `{${Object.entries(sel)
    .map(([k, v]) => `${k}=${v}`)
    .join(",")}}`;
}
