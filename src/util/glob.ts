/**
 * Globs for paths and names (watch paths, discovery roots, stack and host selectors, repos),
 * matched in time linear in (path length x pattern length), with no backtracking. picomatch,
 * minimatch and the like compile globs to backtracking RegExps: `**\/+(*a)*z` against a name of
 * 32 `a`s took 48 s. Here a path is split into names and matched name by name:
 *
 * - `**` as a whole segment matches zero or more names (a set of pattern positions advanced per
 *   name, like an NFA over names); elsewhere it is `*`.
 * - Within a name, the pattern is `head*p1*p2*...*tail` over single-character tests (literal, `?`,
 *   `[...]`): head and tail are anchored and each middle piece taken at its leftmost place, which
 *   is optimal, and the places tried by successive pieces never overlap.
 *
 * Syntax: `*` `?` `**` `[abc]` `[a-z]` `[!a]` `[^a]` `\x` `{a,b}` (nested). Refused, with a message
 * (`globProblem`): extglobs `@( +( *( ?( !(`, brace ranges `{1..3}`, POSIX classes, negation `!x`,
 * patterns over 1,024 characters, braces expanding past 256 alternatives. Parentheses and `|` are
 * literal characters. Unlike picomatch 4, `[!a]` negates (picomatch reads it as the set `!`, `a`).
 * Wildcards never match a name starting with `.` unless `dot` is set or the pattern's segment
 * starts with a literal `.`; with `dot` they still never match the names `.` and `..`.
 */
import {
  ANY,
  type CharClass,
  type CharTest,
  expandGlob,
  GlobError,
  JOIN,
  SLASH,
  STAR,
  type Token,
  tokenize,
  withoutDotSlash,
} from "./globSyntax.ts";

export { GlobError, MAX_GLOB_ALTERNATIVES, MAX_GLOB_CHARS } from "./globSyntax.ts";

export interface GlobOptions {
  /** Wildcards may match names starting with `.` (never `.` and `..` themselves). */
  dot?: boolean;
}

export type GlobMatcher = (path: string) => boolean;

/** Why a pattern cannot be used (a sentence for the user), or undefined when it can. */
export function globProblem(pattern: string): string | undefined {
  try {
    expandGlob(pattern);
    return undefined;
  } catch (err) {
    if (err instanceof GlobError) return err.message;
    throw err;
  }
}

/** A matcher true for paths any of `patterns` matches. Throws a GlobError for a refused pattern. */
export function compileGlob(patterns: string | readonly string[], opts: GlobOptions = {}): GlobMatcher {
  const literals = new Set<string>();
  const compiled: Segment[][] = [];
  for (const pattern of typeof patterns === "string" ? [patterns] : patterns) {
    for (const alt of expandGlob(pattern)) {
      const segments = compileAlternative(alt);
      const literal = literalOf(segments);
      if (literal !== undefined) literals.add(literal);
      else compiled.push(segments);
    }
  }
  const dot = opts.dot === true;
  return (path) => {
    if (literals.has(path)) return true;
    if (compiled.length === 0) return false;
    const names = splitPath(path);
    return compiled.some((segments) => matchNames(segments, names, dot));
  };
}

/**
 * What picomatch.scan gave: `base`, the literal directory every match lies strictly below (`""`
 * for the whole repository), and whether the pattern has any wildcard or alternative at all.
 */
export function scanGlob(pattern: string): { base: string; isGlob: boolean } {
  const names = withoutDotSlash(pattern).split("/");
  let literal = 0;
  while (literal < names.length - 1 && !/[*?[{\\]/.test(names[literal] as string)) literal++;
  return { base: names.slice(0, literal).join("/"), isGlob: isGlob(pattern) };
}

function isGlob(pattern: string): boolean {
  try {
    const alternatives = expandGlob(pattern);
    if (alternatives.length > 1) return true;
    return tokenize(alternatives[0] as string[]).some(
      (t) => typeof t !== "string" && t !== SLASH && t !== JOIN,
    );
  } catch {
    return true; // refused patterns are glob syntax too
  }
}

// ---------------------------------------------------------------------------------------------------
// Compiled form

const GLOBSTAR: unique symbol = Symbol("**");

/** One segment of a pattern (between slashes) as `head*middle[0]*...*tail`. */
interface NamePattern {
  /** Set when the segment has no wildcard at all: compared as a string. */
  literal?: string;
  head: CharTest[];
  middle: CharTest[][];
  /** Each middle piece as a string when it is all literal: found with the engine's `indexOf`. */
  middleText: (string | undefined)[];
  tail: CharTest[];
  /** Whether there is any `*`; without one, `head` is the whole segment. */
  star: boolean;
  /** Starts with `*` or `?`: subject to the rule on names starting with `.`. */
  wildLead: boolean;
}
type Segment = typeof GLOBSTAR | NamePattern;

function compileAlternative(chunks: readonly string[]): Segment[] {
  const raw: Token[][] = [[]];
  for (const token of tokenize(chunks)) {
    if (token === SLASH) raw.push([]);
    else (raw[raw.length - 1] as Token[]).push(token);
  }
  // `**/**` is `**`.
  const names = raw.filter(
    (tokens, i) => !(isGlobstar(tokens) && i > 0 && isGlobstar(raw[i - 1] as Token[])),
  );
  const segments = names.map((tokens) => (isGlobstar(tokens) ? GLOBSTAR : namePattern(tokens)));
  // picomatch's rule: a final `/**` after a name ending in `*` (`stacks/*/**`) needs one name or
  // more; after any other name (`stacks/**`) it may match none.
  const last = names.length - 1;
  if (last > 0 && segments[last] === GLOBSTAR && (names[last - 1] as Token[]).at(-1) === STAR)
    segments.splice(last, 0, ANY_NAME);
  return segments;
}

/** `**` written as such, alone in its segment (the joins of an expansion may surround it). */
function isGlobstar(tokens: readonly Token[]): boolean {
  let from = 0;
  let to = tokens.length;
  while (from < to && tokens[from] === JOIN) from++;
  while (to > from && tokens[to - 1] === JOIN) to--;
  return to - from === 2 && tokens[from] === STAR && tokens[from + 1] === STAR;
}

function namePattern(raw: readonly Token[]): NamePattern {
  // `a**b` is `a*b`: a run of stars is one.
  const chars = raw.filter((t): t is CharTest | typeof STAR => t !== JOIN && t !== SLASH);
  const tokens = chars.filter((t, i) => !(t === STAR && chars[i - 1] === STAR));
  const pieces: CharTest[][] = [[]];
  for (const t of tokens) {
    if (t === STAR) pieces.push([]);
    else (pieces[pieces.length - 1] as CharTest[]).push(t);
  }
  const star = pieces.length > 1;
  const head = pieces[0] as CharTest[];
  const middle = star ? pieces.slice(1, -1) : [];
  const pattern: NamePattern = {
    head,
    middle,
    middleText: middle.map((p) => (p.every((t) => typeof t === "string") ? p.join("") : undefined)),
    tail: star ? (pieces[pieces.length - 1] as CharTest[]) : [],
    star,
    wildLead: tokens[0] === STAR || tokens[0] === ANY,
  };
  if (!star && head.every((t) => typeof t === "string")) pattern.literal = head.join("");
  return pattern;
}

/** `*` as a whole segment: any one name. */
const ANY_NAME = namePattern([STAR]);

function literalOf(segments: readonly Segment[]): string | undefined {
  const names: string[] = [];
  for (const s of segments) {
    if (s === GLOBSTAR || s.literal === undefined) return undefined;
    names.push(s.literal);
  }
  return names.join("/");
}

// ---------------------------------------------------------------------------------------------------
// Matching

/** A name as something indexable by character: the string itself, or its code points when it has astral ones. */
type Chars = string | readonly string[];

const SURROGATE = /[\uD800-\uDFFF]/;

function splitPath(path: string): Chars[] {
  const names = path.split("/");
  return SURROGATE.test(path) ? names.map((n) => Array.from(n)) : names;
}

/** The pattern's segments against the path's names: the set of reachable segment positions, name by name. */
function matchNames(segments: readonly Segment[], names: readonly Chars[], dot: boolean): boolean {
  const m = segments.length;
  let states = new Uint8Array(m + 1);
  states[0] = 1;
  skipGlobstars(segments, states);
  for (const name of names) {
    const next = new Uint8Array(m + 1);
    let alive = false;
    for (let i = 0; i < m; i++) {
      if (!states[i]) continue;
      const s = segments[i] as Segment;
      const to =
        s === GLOBSTAR ? (wildcardMayMatch(name, dot) ? i : -1) : matchName(s, name, dot) ? i + 1 : -1;
      if (to >= 0) {
        next[to] = 1;
        alive = true;
      }
    }
    if (!alive) return false;
    skipGlobstars(segments, next);
    states = next;
  }
  return states[m] === 1;
}

/** `**` may match no name at all: whoever reaches it also reaches what follows. */
function skipGlobstars(segments: readonly Segment[], states: Uint8Array): void {
  for (let i = 0; i < segments.length; i++) if (states[i] && segments[i] === GLOBSTAR) states[i + 1] = 1;
}

function wildcardMayMatch(name: Chars, dot: boolean): boolean {
  if (name[0] !== ".") return name.length > 0;
  if (!dot) return false;
  return !(name.length === 1 || (name.length === 2 && name[1] === "."));
}

function matchName(p: NamePattern, name: Chars, dot: boolean): boolean {
  const n = name.length;
  if (p.literal !== undefined) return (typeof name === "string" ? name : name.join("")) === p.literal;
  if (n === 0 || (p.wildLead && !wildcardMayMatch(name, dot))) return false;
  if (!p.star) return n === p.head.length && matchAt(p.head, name, 0);
  const { head, tail } = p;
  if (n < head.length + tail.length || !matchAt(head, name, 0) || !matchAt(tail, name, n - tail.length))
    return false;
  let pos = head.length;
  const end = n - tail.length;
  for (const [k, piece] of p.middle.entries()) {
    const text = p.middleText[k];
    const at =
      text !== undefined && typeof name === "string" ? name.indexOf(text, pos) : find(piece, name, pos, end);
    if (at < 0 || at + piece.length > end) return false;
    pos = at + piece.length;
  }
  return true;
}

/** Leftmost start in [from, end - piece.length] where `piece` matches, or -1. */
function find(piece: readonly CharTest[], name: Chars, from: number, end: number): number {
  for (let at = from; at + piece.length <= end; at++) if (matchAt(piece, name, at)) return at;
  return -1;
}

function matchAt(piece: readonly CharTest[], name: Chars, at: number): boolean {
  for (let k = 0; k < piece.length; k++) {
    const t = piece[k] as CharTest;
    const c = name[at + k] as string;
    if (typeof t === "string" ? t !== c : t !== ANY && !inClass(t, c)) return false;
  }
  return true;
}

function inClass(cls: CharClass, c: string): boolean {
  const cp = c.codePointAt(0) as number;
  let found = false;
  for (const [lo, hi] of cls.ranges) {
    if (cp >= lo && cp <= hi) {
      found = true;
      break;
    }
  }
  return found !== cls.negated;
}
