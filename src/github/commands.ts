/**
 * PR comment commands: `/deploy web-* --env production` or `@stackpilot deploy web-*`.
 *
 * Pure and linear in the size of the comment. A command sits at the start of a line (leading
 * spaces allowed); lines inside fenced code blocks and quoted lines (`>`) are ignored, so quoting
 * someone else's command never runs it. Every argument is checked against a strict pattern: a
 * bad one turns the command into `{kind: "invalid"}` with an error that names it, and the bad
 * token is never handed on. Everything is plain text: no shell, no quoting, no expansion.
 */
import { z } from "zod";
import { codeSpan } from "../plan/render/escape.ts";
import { globProblem } from "../util/glob.ts";

export const COMMAND_NAMES = [
  "plan",
  "deploy",
  "rollback",
  "unlock",
  "status",
  "help",
  "run",
  "stop",
  "start",
] as const;
export type CommandName = (typeof COMMAND_NAMES)[number];

/** How the command was written: `/deploy` or `@app deploy`. */
export type CommandVia = "slash" | "mention";

interface CommandBase {
  /** 1-based line of the comment the command was found on. */
  line: number;
  via: CommandVia;
}

export type ParsedCommand =
  | (CommandBase & { kind: "plan" })
  | (CommandBase & {
      kind: "deploy";
      /** Stack globs; empty means every stack the plan deploys. */
      stacks: string[];
      host?: string;
      env?: string;
      force: boolean;
    })
  | (CommandBase & { kind: "rollback"; stack: string; to?: string; host?: string })
  | (CommandBase & { kind: "unlock"; stack: string; host?: string })
  /** A procedure of the default branch, run at the PR's head. */
  | (CommandBase & { kind: "run"; procedure: string })
  | (CommandBase & { kind: "stop" | "start"; stack: string; host?: string })
  | (CommandBase & { kind: "status" })
  | (CommandBase & { kind: "help" })
  /** Not one of ours (or `@app` alone): reply with HELP_TEXT. `name` is lowercased, ≤ 40 chars. */
  | (CommandBase & { kind: "unknown"; name: string })
  /** One of ours with bad arguments: reply with `error` (markdown-safe, names the bad token). */
  | (CommandBase & { kind: "invalid"; name: CommandName; error: string });

/** Only this much of a comment is read (GitHub caps comments at 65,536 characters). */
export const MAX_BODY_CHARS = 65_536;
/** Stack globs accepted by one `/deploy`. */
export const MAX_STACK_ARGS = 50;
const MAX_TOKEN_CHARS = 100;

export const STACK_GLOB = /^[A-Za-z0-9._*?[\]-]+$/;
export const HOST_GLOB = STACK_GLOB;
export const ENV_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
/** A single stack (rollback, unlock): a name, not a glob. */
export const STACK_NAME = ENV_NAME;
export const SHA = /^[0-9a-f]{7,40}$/;
export const PROCEDURE = ENV_NAME;

/** Messages follow the token: "`x;y` is not a valid …". */
const token = (re: RegExp, what: string) =>
  z.string().max(MAX_TOKEN_CHARS, `longer than ${MAX_TOKEN_CHARS} characters`).regex(re, what);

/** The characters are checked first; then what the glob matcher refuses (a reversed `[z-a]`). */
const glob = (re: RegExp, what: string) =>
  token(re, what).superRefine((value, ctx) => {
    const why = globProblem(value);
    if (why) ctx.addIssue({ code: "custom", message: `not a valid glob: ${why}` });
  });
const stackGlob = glob(STACK_GLOB, "not a valid stack name or glob");
const hostGlob = glob(HOST_GLOB, "not a valid host name or glob");
const envName = token(ENV_NAME, "not a valid environment name");
const stackName = token(STACK_NAME, "not a valid stack name (globs are not allowed here)");
const sha = token(SHA, "not a commit SHA (7 to 40 hex digits)");
const procedureName = token(PROCEDURE, "not a valid procedure name");

const SCHEMAS = {
  plan: z.strictObject({ positional: z.array(z.string()).max(0) }),
  status: z.strictObject({ positional: z.array(z.string()).max(0) }),
  help: z.strictObject({ positional: z.array(z.string()).max(0) }),
  deploy: z.strictObject({
    positional: z.array(stackGlob).max(MAX_STACK_ARGS, `at most ${MAX_STACK_ARGS} stack globs`),
    host: hostGlob.optional(),
    env: envName.optional(),
    force: z.boolean().optional(),
  }),
  rollback: z.strictObject({
    positional: z.tuple([stackName]),
    to: sha.optional(),
    host: hostGlob.optional(),
  }),
  unlock: z.strictObject({ positional: z.tuple([stackName]), host: hostGlob.optional() }),
  run: z.strictObject({ positional: z.tuple([procedureName]) }),
  stop: z.strictObject({ positional: z.tuple([stackName]), host: hostGlob.optional() }),
  start: z.strictObject({ positional: z.tuple([stackName]), host: hostGlob.optional() }),
} satisfies Record<CommandName, z.ZodType>;

/** Options each command takes; `true` marks a flag without a value. */
const OPTIONS: Record<CommandName, Record<string, boolean>> = {
  plan: {},
  status: {},
  help: {},
  deploy: { host: false, env: false, force: true },
  rollback: { to: false, host: false },
  unlock: { host: false },
  run: {},
  stop: { host: false },
  start: { host: false },
};

const USAGE: Record<CommandName, string> = {
  plan: "/plan",
  deploy: "/deploy [STACK-GLOB...] [--host GLOB] [--env NAME] [--force]",
  rollback: "/rollback STACK [--to SHA] [--host GLOB]",
  unlock: "/unlock STACK [--host GLOB]",
  run: "/run PROCEDURE",
  stop: "/stop STACK [--host GLOB]",
  start: "/start STACK [--host GLOB]",
  status: "/status",
  help: "/help",
};

/** The help reply, naming the app as users mention it. */
export function helpText(appSlug = "stackpilot"): string {
  return HELP_TEXT.replace("`@stackpilot command`", codeSpan(`@${appSlug} command`, { max: 200 }));
}

export const HELP_TEXT = `#### Stackpilot commands

Write a command at the start of a line, as \`/command\` or \`@stackpilot command\`:

| Command | What it does |
|---|---|
| \`${USAGE.plan}\` | Plan again for the current head commit. |
| \`${USAGE.deploy}\` | Deploy the planned stacks (or those matching the globs) to their hosts. \`--host\` narrows the hosts, \`--env\` picks the environment, \`--force\` redeploys unchanged stacks. |
| \`${USAGE.rollback}\` | Redeploy a stack as it was at an earlier deploy (default: the previous one) and pin it there. |
| \`${USAGE.unlock}\` | Release a deploy lock on a stack. |
| \`${USAGE.run}\` | Run a procedure of the default branch's config at this pull request's head. |
| \`${USAGE.stop}\` | Stop a stack on its hosts on purpose: nothing starts it until \`/start\`. |
| \`${USAGE.start}\` | Start a stack stopped on purpose again. |
| \`${USAGE.status}\` | Show what is deployed where, and any running deploys. |
| \`${USAGE.help}\` | Show this help. |

Stack and host globs may use letters, digits, \`.\` \`_\` \`-\` and \`*\` \`?\` \`[ ]\`. Commands in code blocks or quotes are ignored; when a comment holds several commands, only the first one runs.
`;

const COMMAND_WORD = /^[A-Za-z][A-Za-z0-9_-]*$/;
const FENCE = /^(`{3,}|~{3,})(.*)$/;
const WHITESPACE = /\s+/;

/**
 * Every command in a comment, in order. Callers should run only the first one (and may say so
 * when there are more): one comment, one action.
 *
 * `unknown` is returned for `/anything` with a command-like word that is not ours (other bots use
 * slash commands too: a caller may prefer to answer only `via: "mention"` unknowns) and for a bare
 * `@app`. Lines starting with `/` followed by something that is not a word (`/etc/hosts`, `/ …`)
 * are not commands at all.
 */
export function parseCommands(body: string, appSlug: string): ParsedCommand[] {
  const text = body.length > MAX_BODY_CHARS ? body.slice(0, MAX_BODY_CHARS) : body;
  const mention = appSlug ? `@${appSlug.toLowerCase()}` : undefined;
  const out: ParsedCommand[] = [];
  let fence: { char: string; len: number } | undefined;
  let lineNo = 0;
  for (const raw of text.split(/\r\n|\r|\n/)) {
    lineNo++;
    const line = raw.trimStart();
    const f = FENCE.exec(line);
    if (fence) {
      // A closing fence: the same character, at least as long, nothing but spaces after it.
      if (f?.[1]?.[0] === fence.char && f[1].length >= fence.len && f[2]?.trim() === "") fence = undefined;
      continue;
    }
    if (f?.[1]) {
      // Backtick fences may not carry backticks in their info string (CommonMark).
      if (f[1][0] === "~" || !f[2]?.includes("`")) fence = { char: f[1][0] as string, len: f[1].length };
      continue;
    }
    if (line.startsWith(">")) continue;

    let via: CommandVia;
    let words: string[];
    if (line.startsWith("/")) {
      via = "slash";
      words = line.slice(1).split(WHITESPACE);
      if (!COMMAND_WORD.test(words[0] ?? "")) continue;
    } else if (mention && line.slice(0, mention.length).toLowerCase() === mention) {
      let rest = line.slice(mention.length);
      if (rest.toLowerCase().startsWith("[bot]")) rest = rest.slice(5);
      // `@stackpilot-other` is someone else.
      if (rest !== "" && !/^\s/.test(rest)) continue;
      via = "mention";
      words = rest.trim() === "" ? [] : rest.trim().split(WHITESPACE);
    } else continue;

    out.push(
      parseOne(
        words.filter((w) => w !== ""),
        { line: lineNo, via },
      ),
    );
  }
  return out;
}

function parseOne(words: string[], base: CommandBase): ParsedCommand {
  const [first = "", ...args] = words;
  const name = first.toLowerCase();
  if (!isCommandName(name)) return { ...base, kind: "unknown", name: name.slice(0, 40) };

  const parsed = splitArgs(name, args);
  if ("error" in parsed) return invalid(base, name, parsed.error);
  const result = SCHEMAS[name].safeParse(parsed.values);
  if (!result.success) return invalid(base, name, describeIssue(name, result.error, parsed.values));

  switch (name) {
    case "plan":
    case "status":
    case "help":
      return { ...base, kind: name };
    case "deploy": {
      const v = result.data as z.output<(typeof SCHEMAS)["deploy"]>;
      return {
        ...base,
        kind: "deploy",
        stacks: v.positional,
        ...(v.host ? { host: v.host } : {}),
        ...(v.env ? { env: v.env } : {}),
        force: v.force === true,
      };
    }
    case "rollback": {
      const v = result.data as z.output<(typeof SCHEMAS)["rollback"]>;
      return {
        ...base,
        kind: "rollback",
        stack: v.positional[0],
        ...(v.to ? { to: v.to } : {}),
        ...(v.host ? { host: v.host } : {}),
      };
    }
    case "unlock":
    case "stop":
    case "start": {
      const v = result.data as z.output<(typeof SCHEMAS)["unlock"]>;
      return { ...base, kind: name, stack: v.positional[0], ...(v.host ? { host: v.host } : {}) };
    }
    case "run": {
      const v = result.data as z.output<(typeof SCHEMAS)["run"]>;
      return { ...base, kind: "run", procedure: v.positional[0] };
    }
  }
}

function isCommandName(name: string): name is CommandName {
  return (COMMAND_NAMES as readonly string[]).includes(name);
}

type ArgValues = { positional: string[] } & Record<string, string | boolean | string[]>;

/** Words -> positional arguments and options (`--opt value`, `--opt=value`, `--flag`). */
function splitArgs(name: CommandName, args: string[]): { values: ArgValues } | { error: string } {
  const known = OPTIONS[name];
  const values: ArgValues = { positional: [] };
  for (let i = 0; i < args.length; i++) {
    const word = args[i] as string;
    if (!word.startsWith("--")) {
      if (word.startsWith("-") && word.length > 1)
        return { error: `unknown option ${shown(word)}; usage: \`${USAGE[name]}\`` };
      values.positional.push(word);
      continue;
    }
    const eq = word.indexOf("=");
    const opt = (eq < 0 ? word.slice(2) : word.slice(2, eq)).toLowerCase();
    const isFlag = Object.hasOwn(known, opt) ? known[opt] : undefined;
    if (isFlag === undefined) return { error: `unknown option ${shown(word)}; usage: \`${USAGE[name]}\`` };
    if (opt in values) return { error: `option \`--${opt}\` is given more than once` };
    if (isFlag) {
      if (eq >= 0) return { error: `option \`--${opt}\` takes no value` };
      values[opt] = true;
      continue;
    }
    const value = eq >= 0 ? word.slice(eq + 1) : args[++i];
    if (value === undefined || value === "" || value.startsWith("--"))
      return { error: `option \`--${opt}\` needs a value; usage: \`${USAGE[name]}\`` };
    values[opt] = opt === "to" ? value.toLowerCase() : value;
  }
  return { values };
}

function describeIssue(name: CommandName, error: z.ZodError, values: ArgValues): string {
  const issue = error.issues[0];
  if (!issue) return `invalid arguments; usage: \`${USAGE[name]}\``;
  const [key, index] = issue.path;
  if (key === "positional") {
    const args = values.positional;
    if (issue.code === "too_big" && index === undefined) {
      if (name === "deploy") return `${issue.message}; usage: \`${USAGE[name]}\``;
      const single = ["rollback", "unlock", "stop", "start", "run"].includes(name);
      const extra = args[single ? 1 : 0];
      const got = extra === undefined ? "" : ` (unexpected ${shown(extra)})`;
      return single
        ? `\`${name}\` takes exactly one ${name === "run" ? "procedure" : "stack"}${got}; usage: \`${USAGE[name]}\``
        : `\`${name}\` takes no arguments${got}`;
    }
    if (issue.code === "too_small" && index === undefined)
      return `\`${name}\` needs a ${name === "run" ? "procedure" : "stack"}; usage: \`${USAGE[name]}\``;
    if (typeof index === "number" && args[index] !== undefined)
      return `${shown(args[index])} is ${issue.message}`;
    return `invalid arguments; usage: \`${USAGE[name]}\``;
  }
  if (typeof key === "string") {
    const value = values[key];
    if (typeof value === "string") return `${shown(value)} (for \`--${key}\`) is ${issue.message}`;
  }
  return `invalid arguments; usage: \`${USAGE[name]}\``;
}

function invalid(base: CommandBase, name: CommandName, error: string): ParsedCommand {
  return { ...base, kind: "invalid", name, error };
}

/** A user's token shown back to them: shortened, in a code span (mentions and markup stay inert). */
function shown(text: string): string {
  return codeSpan(text, { max: 40 });
}
