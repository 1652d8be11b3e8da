import { describe, expect, it } from "vitest";
import { parse, UsageError } from "../../src/cli/args.ts";

const options = {
  stack: { type: "string", multiple: true },
  host: { type: "string", multiple: true },
} as const;

describe("CLI glob options", () => {
  it("refuses a --host glob it cannot match safely, with the reason", () => {
    expect(() => parse(["--host", "+(*a)*z"], options)).toThrow(UsageError);
    expect(() => parse(["--host", "+(*a)*z"], options)).toThrow(/--host "\+\(\*a\)\*z": extended globs/);
  });

  it("refuses a bad --stack glob among good ones", () => {
    expect(() => parse(["--stack", "web*", "--stack", "{1..9}"], options)).toThrow(
      /--stack "\{1\.\.9\}": brace ranges/,
    );
  });

  it("accepts ordinary globs", () => {
    expect(parse(["--stack", "web-*", "--host", "app-[12]"], options).values).toEqual({
      stack: ["web-*"],
      host: ["app-[12]"],
    });
  });
});
