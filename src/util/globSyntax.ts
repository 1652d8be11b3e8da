/**
 * Glob syntax: brace expansion and the tokens of one expanded alternative. Everything a pattern
 * may not use is refused here with a message fit to show the user (a `GlobError`), so that
 * matching (`glob.ts`) only ever sees the forms it can match in linear time.
 */

/** Longer patterns are refused: nobody writes them by hand. */
export const MAX_GLOB_CHARS = 1024;
/** `{a,b}{c,d}...` multiplies; past this many alternatives a pattern is refused. */
export const MAX_GLOB_ALTERNATIVES = 256;
/** `{a,{b,{c,d}}}`: deeper nesting is refused (expanding it costs the cube of its depth). */
export const MAX_BRACE_DEPTH = 10;
/** The alternatives together, which bounds matching work per path character. */
export const MAX_GLOB_EXPANDED_CHARS = 8 * MAX_GLOB_CHARS;

export class GlobError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "GlobError";
  }
}

/** One character class, `[a-z]`, `[!a]` or `[^a]`, as code point ranges. */
export interface CharClass {
  negated: boolean;
  /** Inclusive code point ranges; a single character is a range of one. */
  ranges: [number, number][];
}

export const ANY: unique symbol = Symbol("?");
export const STAR: unique symbol = Symbol("*");
export const SLASH: unique symbol = Symbol("/");
/** Where two chunks of a brace expansion meet: no character, but it keeps `*` `*` from being `**`. */
export const JOIN: unique symbol = Symbol("join");
/** What one path character must be: itself (a literal), anything but `/` (`?`), or in a class. */
export type CharTest = string | typeof ANY | CharClass;
export type Token = CharTest | typeof STAR | typeof SLASH | typeof JOIN;

const EXTGLOB = /[@+*?!]\(/;
const RANGE_BODY = /^(-?\d+|[A-Za-z])\.\.(-?\d+|[A-Za-z])(\.\.-?\d+)?$/;

/**
 * The alternatives of a pattern once `{a,b}` groups are expanded (a group needs a comma: `{a}`
 * is literal, like a `{` without its `}`), each as the chunks it was joined from: `**` is a
 * globstar only when written so, not when an expansion puts two stars side by side (`*{,a}*`).
 * Throws a GlobError for every refused form.
 */
export function expandGlob(pattern: string): string[][] {
  if (pattern === "") throw new GlobError("empty pattern");
  if (pattern.length > MAX_GLOB_CHARS)
    throw new GlobError(`pattern is ${pattern.length} characters, over the limit of ${MAX_GLOB_CHARS}`);
  if (pattern.startsWith("!") && !pattern.startsWith("!("))
    throw new GlobError('negated patterns ("!…") are not supported');
  refuseExtglob(pattern);
  const alternatives = expand(withoutDotSlash(pattern));
  let chars = 0;
  for (const chunks of alternatives) for (const c of chunks) chars += c.length;
  if (chars > MAX_GLOB_EXPANDED_CHARS)
    throw new GlobError(`braces expand to ${chars} characters, over the limit of ${MAX_GLOB_EXPANDED_CHARS}`);
  return alternatives;
}

/** A leading "./" (or several) names the same paths without it, as picomatch strips it. */
export function withoutDotSlash(pattern: string): string {
  let p = pattern;
  while (p.startsWith("./") && p.length > 2) p = p.slice(2);
  return p;
}

function refuseExtglob(pattern: string): void {
  for (let i = 0; i < pattern.length; i++) {
    if (pattern[i] === "\\") i++;
    else if (EXTGLOB.test(pattern.slice(i, i + 2)))
      throw new GlobError(
        `extended globs such as "${pattern.slice(i, i + 2)}…)" are not supported: use *, ?, [...], {a,b} and **`,
      );
  }
}

/** Brace expansion of `s`, first group then the rest, bounded in count at every step. */
function expand(s: string): string[][] {
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === "\\") i++;
    else if (c === "[") i = classEnd(s, i) - 1;
    else if (c === "{") {
      const group = braceGroup(s, i);
      if (!group) continue;
      const prefix = s.slice(0, i);
      const rest = expand(s.slice(group.end));
      const out: string[][] = [];
      for (const part of group.parts) {
        for (const head of expand(part)) {
          for (const tail of rest) {
            out.push([prefix, ...head, ...tail]);
            if (out.length > MAX_GLOB_ALTERNATIVES)
              throw new GlobError(`braces expand to more than ${MAX_GLOB_ALTERNATIVES} alternatives`);
          }
        }
      }
      return out;
    }
  }
  return [[s]];
}

/** The `{...}` group opening at `open`: its comma-separated parts and the index after `}`. */
function braceGroup(s: string, open: number): { parts: string[]; end: number } | undefined {
  let depth = 0;
  const commas: number[] = [];
  for (let i = open + 1; i < s.length; i++) {
    const c = s[i];
    if (c === "\\") i++;
    else if (c === "[") i = classEnd(s, i) - 1;
    else if (c === "{") {
      if (++depth >= MAX_BRACE_DEPTH) throw new GlobError(`braces nested more than ${MAX_BRACE_DEPTH} deep`);
    } else if (c === "," && depth === 0) commas.push(i);
    else if (c === "}" && depth-- === 0) {
      const body = s.slice(open + 1, i);
      if (commas.length === 0) {
        if (RANGE_BODY.test(body))
          throw new GlobError(`brace ranges such as "{${body}}" are not supported: list the values, {a,b,c}`);
        return undefined;
      }
      const bounds = [open, ...commas, i];
      const parts = bounds.slice(1).map((end, k) => s.slice((bounds[k] as number) + 1, end));
      return { parts, end: i + 1 };
    }
  }
  return undefined;
}

/** Index after the class opening at `open`, or `open + 1` when the `[` has no `]` (a literal). */
function classEnd(s: string, open: number): number {
  const parsed = parseClass(s, open);
  return parsed ? parsed.end : open + 1;
}

/**
 * The class opening at `open` (`[`): `!` or `^` first negates, a `]` first is literal, `a-z` is a
 * range, `\x` is x. Undefined when no `]` closes it (then `[` is a literal character).
 */
export function parseClass(s: string, open: number): { cls: CharClass; end: number } | undefined {
  let i = open + 1;
  const negated = s[i] === "!" || s[i] === "^";
  if (negated) i++;
  const ranges: [number, number][] = [];
  const first = i;
  while (i < s.length) {
    if (s[i] === "]" && i > first) return { cls: { negated, ranges }, end: i + 1 };
    if (s.startsWith("[:", i) && /^\[:[a-z]+:\]/.test(s.slice(i)))
      throw new GlobError(
        `character classes such as "${s.slice(i, s.indexOf("]", i) + 1)}" are not supported`,
      );
    const lo = classChar(s, i);
    if (lo.char === "/")
      throw new GlobError('"/" cannot be inside [...]: a class matches one character of a name');
    i = lo.next;
    if (s[i] === "-" && i + 1 < s.length && s[i + 1] !== "]") {
      const hi = classChar(s, i + 1);
      const [a, b] = [lo.char.codePointAt(0) as number, hi.char.codePointAt(0) as number];
      if (a > b) throw new GlobError(`range "${lo.char}-${hi.char}" in [...] is reversed`);
      ranges.push([a, b]);
      i = hi.next;
    } else {
      const cp = lo.char.codePointAt(0) as number;
      ranges.push([cp, cp]);
    }
  }
  return undefined;
}

function classChar(s: string, i: number): { char: string; next: number } {
  const at = s[i] === "\\" && i + 1 < s.length ? i + 1 : i;
  const char = String.fromCodePoint(s.codePointAt(at) as number);
  return { char, next: at + char.length };
}

/**
 * The tokens of one expanded alternative, with JOIN where its chunks met; `\/` is a separator
 * like `/` (as in picomatch).
 */
export function tokenize(chunks: readonly string[]): Token[] {
  const out: Token[] = [];
  chunks.forEach((chunk, k) => {
    if (k > 0) out.push(JOIN);
    tokenizeChunk(chunk, out);
  });
  return out;
}

function tokenizeChunk(s: string, out: Token[]): void {
  for (let i = 0; i < s.length; ) {
    const c = String.fromCodePoint(s.codePointAt(i) as number);
    if (c === "\\" && i + 1 < s.length) {
      const next = String.fromCodePoint(s.codePointAt(i + 1) as number);
      out.push(next === "/" ? SLASH : next);
      i += 1 + next.length;
      continue;
    }
    if (c === "[") {
      const parsed = parseClass(s, i);
      if (parsed) {
        out.push(parsed.cls);
        i = parsed.end;
        continue;
      }
    }
    out.push(c === "*" ? STAR : c === "?" ? ANY : c === "/" ? SLASH : c);
    i += c.length;
  }
}
