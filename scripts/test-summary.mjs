// The suite's closing lines over every vitest JSON report given:
// - every file that failed without a failed test (a load error, a failed hook), and every test that
//   never finished (its worker process died under it: vitest then says only "Worker exited
//   unexpectedly", and counts the test as neither passed nor failed);
// - "tests: N passed, N failed, N skipped".
// Reports are read in order and a later report's file replaces an earlier one's: a file run again
// after its worker died is counted once, as it ran the second time.
//
// `--unfinished REPORT` prints instead, one per line, the files to run again: those with a test
// that never finished, and only when no test of the report failed (a failed test is not re-run).
import { existsSync, readFileSync } from "node:fs";
import { relative } from "node:path";

const args = process.argv.slice(2);
const unfinishedOnly = args[0] === "--unfinished";
const files = new Map();
for (const report of unfinishedOnly ? args.slice(1) : args) {
  if (!existsSync(report)) {
    if (!unfinishedOnly) console.log(`no report: ${report}`);
    continue;
  }
  const r = JSON.parse(readFileSync(report, "utf8"));
  for (const suite of r.testResults ?? []) files.set(suite.name, suite);
}

const tests = (suite) => suite.assertionResults ?? [];
const unfinished = (suite) => tests(suite).filter((t) => t.status === "pending");
const name = (suite) => relative(process.cwd(), suite.name);

if (unfinishedOnly) {
  const anyFailed = [...files.values()].some((suite) => tests(suite).some((t) => t.status === "failed"));
  if (!anyFailed)
    for (const suite of files.values()) if (unfinished(suite).length > 0) console.log(name(suite));
  process.exit(0);
}

let passed = 0;
let failed = 0;
let skipped = 0;
for (const suite of files.values()) {
  const count = (status) => tests(suite).filter((t) => t.status === status).length;
  passed += count("passed");
  failed += count("failed");
  skipped += count("skipped") + count("todo");
  const never = unfinished(suite);
  if (never.length > 0)
    console.log(
      `did not finish (its worker died): ${name(suite)}; tests without a result:\n  ${never
        .slice(0, 5)
        .map((t) => t.fullName)
        .join("\n  ")}`,
    );
  if (suite.status === "failed" && count("failed") === 0) {
    const message = String(suite.message ?? "")
      .split("\n")
      .slice(0, 6)
      .join("\n  ");
    console.log(`failed file: ${name(suite)}\n  ${message}`);
  }
}
console.log(`tests: ${passed} passed, ${failed} failed, ${skipped} skipped`);
