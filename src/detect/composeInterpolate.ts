/**
 * Compose variable interpolation with the variables the repository defines.
 *
 * Stackpilot decides what a stack depends on from the repository alone: the variables it knows are
 * those of the stack's `.env` (or the env files Stackpilot passes with `--env-file`), see dotenv.ts.
 * A variable defined there has that value; one defined nowhere is taken as unset, so
 * `${VAR:-default}` / `${VAR-default}` take their default and `${VAR:+alt}` / `${VAR+alt}` are
 * empty; `$$` is a literal `$`. Every form that needs a value it cannot find (`$VAR`, `${VAR}`,
 * `${VAR:?err}`, `${VAR?err}` of an undefined variable) depends on the deploy host's environment
 * and stays unresolved.
 */

/**
 * Stands in for an unresolved expression in the output. NUL cannot occur in YAML text, so it never
 * collides with real content, and it contains no `:` so short volume syntax can still be split.
 * Variable values may contain it too (a `.env` value that itself could not be resolved).
 */
export const UNRESOLVED = "\u0000";

/** A variable's value from the repository, or undefined when the repository does not define it. */
export type EnvLookup = (name: string) => string | undefined;

export interface Interpolated {
  /** The text with variables substituted and each unresolved expression replaced by {@link UNRESOLVED}. */
  value: string;
  /** The unresolved expressions as written, e.g. `${TAG}` or `$HOME`. */
  unresolved: string[];
}

const NAME = /^[A-Za-z_][A-Za-z0-9_]*/;
const NO_VARIABLES: EnvLookup = () => undefined;

export function interpolate(text: string, env: EnvLookup = NO_VARIABLES): Interpolated {
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
    const step = expression(text, dollar, env);
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
function expression(text: string, start: number, env: EnvLookup): Step {
  const next = text[start + 1];
  if (next === "$") return { value: "$", unresolved: [], end: start + 2 };
  if (next === "{") return braced(text, start, env);
  const name = NAME.exec(text.slice(start + 1))?.[0];
  // A bare `$` not followed by a name is an invalid template for Compose; it cannot be resolved either.
  const end = start + 1 + (name?.length ?? 0);
  const written = text.slice(start, end);
  return { ...substitute(name === undefined ? undefined : env(name), written), end };
}

/** A variable's value as it is substituted: values that are not (wholly) known stay unresolved. */
function substitute(value: string | undefined, written: string): Interpolated {
  if (value === undefined) return { value: UNRESOLVED, unresolved: [written] };
  return { value, unresolved: value.includes(UNRESOLVED) ? [written] : [] };
}

function braced(text: string, start: number, env: EnvLookup): Step {
  const close = matchingBrace(text, start + 2);
  if (close < 0) return { value: UNRESOLVED, unresolved: [text.slice(start)], end: text.length };
  const written = text.slice(start, close + 1);
  const body = text.slice(start + 2, close);
  const name = NAME.exec(body)?.[0];
  const operator = name === undefined ? undefined : /^(?::?[-?+]|$)/.exec(body.slice(name.length))?.[0];
  if (name === undefined || operator === undefined) {
    return { value: UNRESOLVED, unresolved: [written], end: close + 1 };
  }
  // Defaults and alternatives may themselves contain expressions (`${A:-${B:-x}}`): interpolated too.
  const word = () => interpolate(body.slice(name.length + operator.length), env);
  return { ...apply(operator, env(name), written, word), end: close + 1 };
}

/** Compose's (and the shell's) parameter expansion of one `${NAME<operator>word}`. */
function apply(
  operator: string,
  value: string | undefined,
  written: string,
  word: () => Interpolated,
): Interpolated {
  const set = value !== undefined;
  // Whether a value that is only partly known is empty cannot be decided: such tests stay unresolved.
  const empty =
    value === undefined || value === "" ? true : value.replaceAll(UNRESOLVED, "") === "" ? undefined : false;
  const unknown: Interpolated = { value: UNRESOLVED, unresolved: [written] };
  switch (operator) {
    case "":
      return substitute(value, written);
    case "-":
      return set ? substitute(value, written) : word();
    case ":-":
      return empty === undefined ? unknown : empty ? word() : substitute(value, written);
    case "?":
      return set ? substitute(value, written) : unknown;
    case ":?":
      return empty === false ? substitute(value, written) : unknown;
    case "+":
      return set ? word() : { value: "", unresolved: [] };
    case ":+":
      return empty === undefined ? unknown : empty ? { value: "", unresolved: [] } : word();
    default:
      return unknown;
  }
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
