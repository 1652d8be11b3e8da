import { describe, expect, it } from "vitest";
import { compileRegex, MAX_REGEX_CHARS, regexProblem } from "../../src/util/safeRegex.ts";

describe("regular expressions from outside (RE2)", () => {
  it("answers a pattern that backtracks catastrophically in JavaScript, without hanging", () => {
    // JavaScript's RegExp takes ~2^40 steps here (hours); RE2 is linear in the input.
    const matches = compileRegex("(a+)+");
    expect(matches(`${"a".repeat(40)}b`)).toBe(false);
    expect(matches("a".repeat(100_000))).toBe(true);
    expect(compileRegex("(x+x+)+y")(`${"x".repeat(5000)}`)).toBe(false);
  }, 10_000);

  it("matches the whole name, not a part of it", () => {
    const db = compileRegex("db-[0-9]+");
    expect(db("db-12")).toBe(true);
    expect(db("old-db-12")).toBe(false);
    expect(db("db-12-old")).toBe(false);
    expect(compileRegex("web|api")("api")).toBe(true);
    expect(compileRegex("web|api")("webapi")).toBe(false);
  });

  it("refuses backreferences, lookaround, empty and overlong patterns with a reason", () => {
    expect(regexProblem("(a)\\1")).toMatch(/RE2/);
    expect(regexProblem("(?=a)a")).toMatch(/RE2/);
    expect(regexProblem("")).toBe("empty regular expression");
    expect(regexProblem("a".repeat(MAX_REGEX_CHARS + 1))).toMatch(/longer than/);
    expect(regexProblem("db-.*")).toBeUndefined();
    expect(() => compileRegex("(?<=a)b")).toThrow();
  });
});
