// scripts/test-summary.mjs, the suite's closing lines: a file whose worker died is named with the
// tests that never finished, offered for a second run only when no test failed, and counted once
// (as it ran the second time) when a later report holds it again.
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";

const dir = mkdtempSync(join(tmpdir(), "sp-summary-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

type Status = "passed" | "failed" | "skipped" | "pending";
function report(name: string, files: Record<string, Status[]>): string {
  const tests = Object.values(files).flat();
  const path = join(dir, `${name}.json`);
  writeFileSync(
    path,
    JSON.stringify({
      numPassedTests: tests.filter((s) => s === "passed").length,
      numFailedTests: tests.filter((s) => s === "failed").length,
      numPendingTests: tests.filter((s) => s === "pending").length,
      numTodoTests: 0,
      testResults: Object.entries(files).map(([file, statuses]) => ({
        name: join(process.cwd(), file),
        status: statuses.includes("failed") ? "failed" : "passed",
        message: "",
        assertionResults: statuses.map((status, i) => ({ fullName: `${file} #${i}`, status })),
      })),
    }),
  );
  return path;
}

const summary = (...args: string[]) =>
  execFileSync(process.execPath, ["scripts/test-summary.mjs", ...args], { encoding: "utf8" });

describe("the test summary", () => {
  const crashed = report("crashed", {
    "test/a.test.ts": ["passed", "passed"],
    "test/b.test.ts": ["passed", "pending", "pending"],
    "test/c.test.ts": ["skipped"],
  });

  it("names the tests that never finished, and the files to run again", () => {
    const out = summary(crashed);
    expect(out).toContain("did not finish (its worker died): test/b.test.ts; tests without a result:\n");
    expect(out).toContain("  test/b.test.ts #1\n  test/b.test.ts #2\n");
    expect(out).toContain("tests: 3 passed, 0 failed, 1 skipped");
    expect(summary("--unfinished", crashed)).toBe("test/b.test.ts\n");
  });

  it("offers nothing to run again when a test failed", () => {
    const failed = report("failed", {
      "test/a.test.ts": ["failed"],
      "test/b.test.ts": ["pending"],
    });
    expect(summary("--unfinished", failed)).toBe("");
  });

  it("counts a file run again once, as it ran the second time", () => {
    const again = report("again", { "test/b.test.ts": ["passed", "passed", "failed"] });
    const out = summary(crashed, again);
    expect(out).not.toContain("did not finish");
    expect(out).toContain("tests: 4 passed, 1 failed, 1 skipped");
  });
});
