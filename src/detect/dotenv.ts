/**
 * The variables Compose interpolates a project with, as far as the repository defines them: the
 * project's `.env`, or the files given with `--env-file` (later files override earlier ones).
 *
 * The grammar is Compose's own (compose-go's dotenv): `KEY=value` or `KEY: value`, an optional
 * `export `, `#` comments; single-quoted values are literal, double-quoted ones have `\n`/`\r`
 * escapes and are interpolated, unquoted ones end at the line's end or a comment and are
 * interpolated; values are interpolated in file order with the variables defined before them. A
 * bare `KEY` takes its value from the host's environment, so it is unknown here.
 *
 * Why not npm `dotenv`: its `parse` returns final unquoted strings only, so a single-quoted
 * (literal) value cannot be told from an interpolated one, nor a redefined key's earlier value be
 * used by the lines between; both change the paths Compose computes.
 */
import { createHash } from "node:crypto";
import { interpolate, UNRESOLVED } from "./composeInterpolate.ts";

/** Variables known from the repository; a value containing UNRESOLVED is not (wholly) known. */
export interface ComposeEnv {
  readonly vars: ReadonlyMap<string, string>;
  /** A digest of the variables, for caches of results that depend on them ("" when there are none). */
  readonly key: string;
}

export const NO_ENV: ComposeEnv = { vars: new Map(), key: "" };

export interface EnvFileText {
  path: string;
  /** Undefined when the file is absent (Compose then has nothing from it). */
  text: string | undefined;
}

export interface EnvProblem {
  file: string;
  line: number;
  message: string;
}

/**
 * The environment of a project interpolated with `files` in order. With `parent` (an included
 * project), the parent's variables win and the files only add what the parent leaves undefined,
 * as Compose does for `include`.
 */
export function composeEnv(
  files: readonly EnvFileText[],
  parent?: ComposeEnv,
): { env: ComposeEnv; problems: EnvProblem[] } {
  const vars = new Map<string, string>();
  const problems: EnvProblem[] = [];
  for (const file of files) {
    if (file.text === undefined) continue;
    const parsed = parseDotenv(file.text, (name) => parent?.vars.get(name) ?? vars.get(name));
    for (const [k, v] of parsed.vars) vars.set(k, v);
    for (const p of parsed.problems) problems.push({ file: file.path, ...p });
  }
  if (parent) for (const [k, v] of parent.vars) vars.set(k, v);
  return { env: envOf(vars), problems };
}

function envOf(vars: Map<string, string>): ComposeEnv {
  if (vars.size === 0) return NO_ENV;
  const hash = createHash("sha256");
  for (const k of [...vars.keys()].sort()) hash.update(`${k}\0${vars.get(k)}\0`);
  return { vars, key: hash.digest("hex").slice(0, 32) };
}

const KEY = /^[A-Za-z0-9_.-]+$/;
const SPACE = /[ \t\v\f\r]/;

/**
 * One env file's variables in definition order (a redefined key keeps its last value), each
 * interpolated with the variables before it, in this file and in `outer` (the environment and
 * earlier files). Compose versions differ on which of the two wins when both define a name, so a
 * name they define differently is not known.
 */
export function parseDotenv(
  text: string,
  outer: (name: string) => string | undefined = () => undefined,
): { vars: Map<string, string>; problems: { line: number; message: string }[] } {
  const vars = new Map<string, string>();
  const lookup = (name: string) => {
    const here = vars.get(name);
    const there = outer(name);
    return here !== undefined && there !== undefined && here !== there ? UNRESOLVED : (here ?? there);
  };
  const src = text.replace(/^\uFEFF/, "").replace(/\r\n?/g, "\n");
  let i = 0;
  const lineAt = (at: number) => src.slice(0, at).split("\n").length;
  const fail = (at: number, message: string) => ({
    vars,
    problems: [{ line: lineAt(at), message: `${message}; Compose refuses this file` }],
  });
  for (;;) {
    i = skipBlank(src, i);
    if (i >= src.length) return { vars, problems: [] };
    const start = i;
    if (/^export[ \t]/.test(src.slice(i, i + 7))) i = skipSpace(src, i + 6);
    let end = i;
    while (end < src.length && !"=:\n".includes(src[end] as string)) end++;
    const key = src.slice(i, end).replace(/[ \t]+$/, "");
    if (!KEY.test(key)) return fail(start, `invalid variable name "${key}"`);
    if (src[end] === "\n" || end >= src.length) {
      // `KEY` alone: the value comes from the environment Compose runs in, unknown here.
      vars.set(key, UNRESOLVED);
      i = end;
      continue;
    }
    const value = readValue(src, skipSpace(src, end + 1), lookup);
    if (value === undefined) return fail(start, `unterminated quoted value of ${key}`);
    vars.set(key, value.value);
    i = value.end;
  }
}

function readValue(
  src: string,
  at: number,
  lookup: (name: string) => string | undefined,
): { value: string; end: number } | undefined {
  const quote = src[at];
  if (quote === "'" || quote === '"') {
    let close = at + 1;
    while (close < src.length && (src[close] !== quote || src[close - 1] === "\\")) close++;
    if (close >= src.length) return undefined;
    const raw = src.slice(at + 1, close);
    if (quote === "'") return { value: raw, end: close + 1 };
    return { value: interpolate(unescapeDoubleQuoted(raw), lookup).value, end: close + 1 };
  }
  const eol = src.indexOf("\n", at);
  const line = src.slice(at, eol < 0 ? src.length : eol);
  // Compose versions differ on a `#` not preceded by a space (a comment, or part of the value):
  // such a value is not known.
  const value = line.split(/[ \t]#/)[0]?.trimEnd() ?? "";
  const known = !value.includes("#");
  return { value: known ? interpolate(value, lookup).value : UNRESOLVED, end: at + line.length };
}

/** compose-go's double-quote escapes: `\n` and `\r`; a backslash before any other character but `$` drops. */
function unescapeDoubleQuoted(raw: string): string {
  return raw.replace(/\\([^$])/gs, (_, c: string) => (c === "n" ? "\n" : c === "r" ? "\r" : c));
}

/** Past whitespace, newlines and comment lines. */
function skipBlank(src: string, i: number): number {
  for (;;) {
    while (i < src.length && /\s/.test(src[i] as string)) i++;
    if (src[i] !== "#") return i;
    const eol = src.indexOf("\n", i);
    if (eol < 0) return src.length;
    i = eol;
  }
}

function skipSpace(src: string, i: number): number {
  while (i < src.length && SPACE.test(src[i] as string)) i++;
  return i;
}
