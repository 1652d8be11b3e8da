/**
 * The one place where argv becomes a shell command line. Every remote command is built as an
 * argv array by a pure function in commands/ and quoted here, so no user-controlled string
 * ever reaches a remote shell unquoted.
 */
export type Argv = readonly string[];

/** Characters that never need quoting in POSIX sh. */
const SAFE = /^[A-Za-z0-9_@%+=:,./-]+$/;

/** POSIX single-quote quoting: `it's` -> `'it'\''s'`. */
export function quote(arg: string): string {
  if (arg === "") return "''";
  if (SAFE.test(arg)) return arg;
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}

/**
 * Several steps in one round trip: a constant script (never built from input) run by `sh -c`,
 * with every variable part passed as a positional argument ($1, $2, ...), quoted like any argv.
 */
export function script(body: string, ...args: string[]): Argv {
  return ["sh", "-c", body, "sh", ...args];
}

export function commandLine(argv: Argv): string {
  if (argv.length === 0) throw new Error("empty command");
  return argv.map(quote).join(" ");
}
