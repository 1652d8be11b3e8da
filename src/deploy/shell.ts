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

export function commandLine(argv: Argv): string {
  if (argv.length === 0) throw new Error("empty command");
  return argv.map(quote).join(" ");
}
