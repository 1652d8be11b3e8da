import { describe, expect, it } from "vitest";
import {
  HELP_TEXT,
  helpText,
  MAX_BODY_CHARS,
  type ParsedCommand,
  parseCommands,
} from "../../src/github/commands.ts";

const SLUG = "stackpilot";
const parse = (body: string) => parseCommands(body, SLUG);
const one = (body: string): ParsedCommand => {
  const cmds = parse(body);
  expect(cmds).toHaveLength(1);
  return cmds[0] as ParsedCommand;
};
const errorOf = (body: string): string => {
  const c = one(body);
  if (c.kind !== "invalid") throw new Error(`expected invalid, got ${JSON.stringify(c)}`);
  return c.error;
};

describe("parseCommands: procedures and stopping", () => {
  it("parses /run with a procedure name, /stop and /start with a stack and --host", () => {
    expect(one("/run rollout")).toMatchObject({ kind: "run", procedure: "rollout" });
    expect(one("/stop db-main --host h*")).toMatchObject({ kind: "stop", stack: "db-main", host: "h*" });
    expect(one("@stackpilot start db-main")).toMatchObject({ kind: "start", stack: "db-main" });
  });

  it("refuses a procedure name with shell metacharacters or a second argument, naming it", () => {
    expect(errorOf("/run roll;out")).toContain("not a valid procedure name");
    expect(errorOf("/run a b")).toBe(
      "`run` takes exactly one procedure (unexpected `b`); usage: `/run PROCEDURE`",
    );
    expect(errorOf("/run")).toBe("`run` needs a procedure; usage: `/run PROCEDURE`");
    expect(errorOf("/stop web-*")).toContain("not a valid stack name (globs are not allowed here)");
  });
});

describe("parseCommands: forms", () => {
  it("parses a slash command with stack globs and every deploy option", () => {
    expect(one("/deploy web-* api --host edge-? --env production --force")).toEqual({
      kind: "deploy",
      line: 1,
      via: "slash",
      stacks: ["web-*", "api"],
      host: "edge-?",
      env: "production",
      force: true,
    });
  });

  it("parses a bare deploy as 'everything the plan deploys'", () => {
    expect(one("/deploy")).toEqual({ kind: "deploy", line: 1, via: "slash", stacks: [], force: false });
  });

  it("accepts --opt=value as well as --opt value", () => {
    expect(one("/deploy --host=web-[12] --env=staging")).toMatchObject({ host: "web-[12]", env: "staging" });
  });

  it("parses a mention with any case of the app slug and command", () => {
    expect(one("@StackPilot DEPLOY web")).toMatchObject({ kind: "deploy", via: "mention", stacks: ["web"] });
    expect(one("@stackpilot[bot] plan")).toMatchObject({ kind: "plan", via: "mention" });
  });

  it("does not take another app's mention for ours", () => {
    expect(parse("@stackpilot-staging deploy web")).toEqual([]);
    expect(parse("@someone deploy web")).toEqual([]);
  });

  it("treats a bare mention as unknown so the caller answers with help", () => {
    expect(one("@stackpilot")).toMatchObject({ kind: "unknown", name: "", via: "mention" });
  });

  it("allows leading spaces but not text before the command", () => {
    expect(one("   /plan")).toMatchObject({ kind: "plan", line: 1 });
    expect(parse("please /deploy web")).toEqual([]);
    expect(parse("hey @stackpilot deploy web")).toEqual([]);
  });

  it("parses rollback, unlock, status and help", () => {
    expect(one("/rollback web --to ABCDEF1 --host web-1")).toEqual({
      kind: "rollback",
      line: 1,
      via: "slash",
      stack: "web",
      to: "abcdef1",
      host: "web-1",
    });
    expect(one("/unlock web")).toEqual({ kind: "unlock", line: 1, via: "slash", stack: "web" });
    expect(one("/status")).toMatchObject({ kind: "status" });
    expect(one("/help")).toMatchObject({ kind: "help" });
  });

  it("returns every command in order with its line number", () => {
    const cmds = parse("LGTM\r\n/plan\n\n@stackpilot deploy web\n/status");
    expect(cmds.map((c) => [c.kind, c.line])).toEqual([
      ["plan", 2],
      ["deploy", 4],
      ["status", 5],
    ]);
  });

  it("returns unknown commands as unknown, lowercased and shortened", () => {
    expect(one("/Apply now")).toEqual({ kind: "unknown", name: "apply", line: 1, via: "slash" });
    expect((one(`/${"x".repeat(500)}`) as { name: string }).name).toHaveLength(40);
  });

  it("ignores slash lines that are not command-like words, such as paths", () => {
    expect(parse("/etc/hosts is broken\n/ nothing\n//comment\n/1abc")).toEqual([]);
  });
});

describe("parseCommands: what is ignored", () => {
  it("ignores commands inside fenced code blocks, backticks or tildes", () => {
    const body = [
      "```",
      "/deploy web",
      "```",
      "~~~~sh",
      "/rollback web",
      "~~~",
      "still code",
      "~~~~",
      "/plan",
    ].join("\n");
    expect(parse(body).map((c) => c.kind)).toEqual(["plan"]);
  });

  it("ignores an indented fence's content and needs a long enough closing fence", () => {
    expect(parse("  ````\n/deploy\n```\n/deploy\n````\n/status").map((c) => c.kind)).toEqual(["status"]);
  });

  it("ignores everything after an unclosed fence", () => {
    expect(parse("/plan\n```\n/deploy web")).toMatchObject([{ kind: "plan" }]);
  });

  it("ignores quoted lines, with or without a space after >", () => {
    expect(parse("> /deploy web\n>/deploy web\n  > @stackpilot deploy\n")).toEqual([]);
  });
});

describe("parseCommands: validation", () => {
  it("rejects shell metacharacters and names the bad token, never returning it as an argument", () => {
    const c = one("/deploy web;rm -rf / $(id)");
    expect(c.kind).toBe("invalid");
    expect(JSON.stringify(c)).not.toMatch(/"stacks"/);
    expect(errorOf("/deploy web;rm")).toContain("`web;rm`");
    expect(errorOf("/deploy web $(id)")).toContain("`$(id)`");
  });

  it("rejects unicode in stack names", () => {
    expect(errorOf("/deploy wéb")).toContain("`wéb` is not a valid stack name or glob");
  });

  it("rejects a glob the matcher refuses, with the reason in a reply-able error", () => {
    expect(errorOf("/deploy web-[z-a]")).toBe(
      '`web-[z-a]` is not a valid glob: range "z-a" in [...] is reversed',
    );
    expect(errorOf("/unlock web --host app-[9-1]")).toMatch(
      /^`app-\[9-1\]` \(for `--host`\) is not a valid glob/,
    );
  });

  it("rejects a bad host glob and a bad environment, naming the option", () => {
    expect(errorOf("/deploy --host web|x")).toBe("`web|x` (for `--host`) is not a valid host name or glob");
    expect(errorOf("/deploy --env -prod")).toContain("`-prod` (for `--env`) is not a valid environment name");
    expect(errorOf("/deploy --env .hidden")).toContain("`.hidden`");
  });

  it("rejects SHAs that are not 7 to 40 hex digits", () => {
    expect(errorOf("/rollback web --to abc12")).toContain("`abc12` (for `--to`) is not a commit SHA");
    expect(errorOf("/rollback web --to main")).toContain("`main`");
    expect(errorOf(`/rollback web --to ${"a".repeat(41)}`)).toContain("not a commit SHA");
  });

  it("rejects globs where a single stack is needed", () => {
    expect(errorOf("/rollback web-*")).toContain("globs are not allowed here");
    expect(errorOf("/unlock web api")).toContain("takes exactly one stack (unexpected `api`)");
    expect(errorOf("/rollback")).toContain("needs a stack");
  });

  it("rejects unknown options, repeated options, missing values and flags with values", () => {
    expect(errorOf("/deploy --hots web")).toContain("unknown option `--hots`");
    expect(errorOf("/deploy -f")).toContain("unknown option `-f`");
    expect(errorOf("/deploy --host a --host b")).toContain("`--host` is given more than once");
    expect(errorOf("/deploy --host")).toContain("`--host` needs a value");
    expect(errorOf("/deploy --host --force")).toContain("`--host` needs a value");
    expect(errorOf("/deploy --force=yes")).toContain("`--force` takes no value");
    expect(errorOf("/rollback web --force")).toContain("unknown option `--force`");
  });

  it("rejects arguments to commands that take none", () => {
    expect(errorOf("/plan now")).toBe("`plan` takes no arguments (unexpected `now`)");
    expect(errorOf("/status --host x")).toContain("unknown option");
  });

  it("does not treat an inherited property name as an option", () => {
    expect(errorOf("/deploy --constructor x")).toContain("unknown option");
    expect(errorOf("/deploy --__proto__=x")).toContain("unknown option");
  });

  it("rejects overlong tokens and too many stacks", () => {
    expect(errorOf(`/deploy ${"a".repeat(101)}`)).toBe(
      `\`${"a".repeat(40)}…\` is longer than 100 characters`,
    );
    expect(errorOf(`/deploy ${Array.from({ length: 51 }, (_, i) => `s${i}`).join(" ")}`)).toContain(
      "at most 50 stack globs",
    );
  });

  it("shows a hostile token inertly: shortened, in a code span it cannot close, without bidi controls", () => {
    const error = errorOf("/deploy `@everyone`<img>\u202Eevil");
    expect(error.startsWith("`` `@everyone`<img>\uFFFDevil ``")).toBe(true);
  });
});

describe("parseCommands: bounds", () => {
  it("parses a 60,000-character comment of near-misses in linear time", () => {
    const line = `/deploy ${"a* ".repeat(20)}--host\n> /deploy\n\`\`\`x\n/plan\n\`\`\`\n`;
    const body = line.repeat(Math.ceil(60_000 / line.length)).slice(0, 60_000);
    const start = performance.now();
    const cmds = parse(body);
    expect(performance.now() - start).toBeLessThan(500);
    expect(cmds.length).toBeGreaterThan(100);
    expect(cmds.every((c) => c.kind === "invalid")).toBe(true);
  });

  it("handles one 60,000-character line without backtracking", () => {
    const start = performance.now();
    expect(one(`/deploy ${"*?[".repeat(20_000)}`).kind).toBe("invalid");
    expect(parse(`@stackpilot${" ".repeat(60_000)}x`)).toMatchObject([{ kind: "unknown", name: "x" }]);
    expect(performance.now() - start).toBeLessThan(500);
  });

  it("reads no further than the comment size limit", () => {
    expect(parse(`${" ".repeat(MAX_BODY_CHARS)}\n/plan`)).toEqual([]);
  });
});

describe("HELP_TEXT", () => {
  it("lists every command", () => {
    for (const name of ["plan", "deploy", "rollback", "unlock", "status", "help"])
      expect(HELP_TEXT).toContain(`\`/${name}`);
    expect(HELP_TEXT).toContain("--to SHA");
    expect(HELP_TEXT).toContain("only the first one runs");
  });

  it("names the app as installed", () => {
    expect(helpText("deploy-bot")).toContain("`@deploy-bot command`");
    expect(helpText("deploy-bot")).not.toContain("@stackpilot");
  });
});
