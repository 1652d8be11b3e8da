/** Argument parsing shared by every command: usage errors exit 2 with the command's help. */
import { type ParseArgsConfig, parseArgs } from "node:util";
import { globProblem } from "../util/glob.ts";

export class UsageError extends Error {
  override name = "UsageError";
}

export type Options = NonNullable<ParseArgsConfig["options"]>;

/** Options whose values are globs, in every command that has them. */
const GLOB_OPTIONS = ["stack", "host"];

export function parse<O extends Options>(argv: string[], options: O, allowPositionals = false) {
  const parsed = parseStrict(argv, options, allowPositionals);
  refuseBadGlobs(parsed.values);
  return parsed;
}

function parseStrict<O extends Options>(argv: string[], options: O, allowPositionals: boolean) {
  try {
    return parseArgs({
      args: argv,
      options: { ...options, help: { type: "boolean", short: "h" } },
      allowPositionals,
      strict: true,
    });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

function refuseBadGlobs(values: Record<string, unknown>): void {
  for (const name of GLOB_OPTIONS) {
    const value = values[name];
    for (const glob of Array.isArray(value) ? value : value === undefined ? [] : [value]) {
      const why = globProblem(String(glob));
      if (why) throw new UsageError(`--${name} ${JSON.stringify(glob)}: ${why}`);
    }
  }
}
