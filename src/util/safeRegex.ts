/**
 * Regular expressions from outside (`re:` stack patterns in procedures and triggers), matched by
 * RE2 (Google's linear-time engine, as WebAssembly: the npm `re2-wasm` package) and never by
 * JavaScript's backtracking RegExp: `^(a+)+$` against 100,000 `a`s and a `b` answers in 70 ms
 * instead of never. RE2 refuses what it cannot run in linear time (backreferences, lookaround),
 * and a pattern is bounded to MAX_REGEX_CHARS. A pattern matches a whole name (it is anchored).
 *
 * The WebAssembly module is loaded the first time a pattern is used (~40 ms), so nothing that
 * never meets a `re:` pattern pays for it.
 */
import { createRequire } from "node:module";

export const MAX_REGEX_CHARS = 256;
/** Prefix that makes a stack pattern a regular expression instead of a glob. */
export const REGEX_PREFIX = "re:";

interface Re2 {
  test(s: string): boolean;
}
type Re2Constructor = new (pattern: string, flags: string) => Re2;

let re2: Re2Constructor | undefined;
function engine(): Re2Constructor {
  re2 ??= (createRequire(import.meta.url)("re2-wasm") as { RE2: Re2Constructor }).RE2;
  return re2;
}

/** Why a pattern cannot be used (a sentence for the user), or undefined when it can. */
export function regexProblem(pattern: string): string | undefined {
  if (pattern.length === 0) return "empty regular expression";
  if (pattern.length > MAX_REGEX_CHARS) return `regular expression longer than ${MAX_REGEX_CHARS} characters`;
  try {
    compile(pattern);
    return undefined;
  } catch (err) {
    // RE2's own words: "invalid perl operator: (?=" for a lookahead, and so on.
    return `${(err as Error).message.replace(/^Invalid regular expression: \/.*\/u: /s, "")} (regular expressions run on RE2: no backreferences or lookaround)`;
  }
}

/** A matcher true for names the whole pattern matches. Throws for a refused pattern. */
export function compileRegex(pattern: string): (name: string) => boolean {
  if (pattern.length > MAX_REGEX_CHARS)
    throw new Error(`regular expression longer than ${MAX_REGEX_CHARS} characters`);
  const re = compile(pattern);
  return (name) => re.test(name);
}

function compile(pattern: string): Re2 {
  const RE2 = engine();
  return new RE2(`^(?:${pattern})$`, "u");
}
