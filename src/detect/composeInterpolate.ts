/**
 * Compose variable interpolation without an environment.
 *
 * Stackpilot decides what a stack depends on from the repository alone, so no variable has a known
 * value: `${VAR:-default}` / `${VAR-default}` take their default (as if VAR were unset), `$$` is a
 * literal `$`, and every other form (`$VAR`, `${VAR}`, `${VAR:?err}`, `${VAR:+alt}`, ...) depends on
 * the deploy-time environment and stays unresolved.
 */

/**
 * Stands in for an unresolved expression in the output. NUL cannot occur in YAML text, so it never
 * collides with real content, and it contains no `:` so short volume syntax can still be split.
 */
export const UNRESOLVED = "\u0000";

export interface Interpolated {
  /** The text with defaults applied and each unresolved expression replaced by {@link UNRESOLVED}. */
  value: string;
  /** The unresolved expressions as written, e.g. `${TAG}` or `$HOME`. */
  unresolved: string[];
}

const NAME = /^[A-Za-z_][A-Za-z0-9_]*/;

export function interpolate(text: string): Interpolated {
  let value = "";
  const unresolved: string[] = [];
  let i = 0;
  while (i < text.length) {
    const dollar = text.indexOf("$", i);
    if (dollar < 0) {
      value += text.slice(i);
      break;
    }
    value += text.slice(i, dollar);
    const step = expression(text, dollar);
    value += step.value;
    unresolved.push(...step.unresolved);
    i = step.end;
  }
  return { value, unresolved };
}

interface Step extends Interpolated {
  /** Index just past the expression. */
  end: number;
}

/** Evaluates the expression starting at the `$` at index `start`. */
function expression(text: string, start: number): Step {
  const next = text[start + 1];
  if (next === "$") return { value: "$", unresolved: [], end: start + 2 };
  if (next === "{") return braced(text, start);
  const name = NAME.exec(text.slice(start + 1))?.[0];
  // A bare `$` not followed by a name is an invalid template for Compose; it cannot be resolved either.
  const end = start + 1 + (name?.length ?? 0);
  return { value: UNRESOLVED, unresolved: [text.slice(start, end)], end };
}

function braced(text: string, start: number): Step {
  const close = matchingBrace(text, start + 2);
  if (close < 0) return { value: UNRESOLVED, unresolved: [text.slice(start)], end: text.length };
  const written = text.slice(start, close + 1);
  const body = text.slice(start + 2, close);
  const name = NAME.exec(body)?.[0];
  const operator = name === undefined ? undefined : /^:?-/.exec(body.slice(name.length))?.[0];
  if (name === undefined || operator === undefined) {
    return { value: UNRESOLVED, unresolved: [written], end: close + 1 };
  }
  // Defaults may themselves contain expressions (`${A:-${B:-x}}`), so they are interpolated too.
  const fallback = interpolate(body.slice(name.length + operator.length));
  return { ...fallback, end: close + 1 };
}

/** Index of the `}` closing a `${` whose body starts at `from`, honouring nesting and `$$`; -1 if none. */
function matchingBrace(text: string, from: number): number {
  let depth = 0;
  for (let i = from; i < text.length; i++) {
    const c = text[i];
    if (c === "$" && (text[i + 1] === "$" || text[i + 1] === "{")) {
      if (text[i + 1] === "{") depth++;
      i++;
    } else if (c === "}") {
      if (depth === 0) return i;
      depth--;
    }
  }
  return -1;
}
