// Print one closing line, "tests: N passed, N failed, N skipped", over every vitest JSON report given,
// preceded by every file that failed without a failed test (a load error, a failed hook, a crashed
// worker): those fail the run too, and the closing line alone would hide them.
import { existsSync, readFileSync } from "node:fs";
import { relative } from "node:path";

let passed = 0;
let failed = 0;
let skipped = 0;
for (const file of process.argv.slice(2)) {
  if (!existsSync(file)) {
    console.log(`no report: ${file}`);
    continue;
  }
  const r = JSON.parse(readFileSync(file, "utf8"));
  passed += r.numPassedTests;
  failed += r.numFailedTests;
  skipped += r.numPendingTests + r.numTodoTests;
  for (const suite of r.testResults ?? []) {
    if (suite.status !== "failed") continue;
    const failedTests = (suite.assertionResults ?? []).filter((t) => t.status === "failed").length;
    if (failedTests > 0) continue;
    const message = String(suite.message ?? "")
      .split("\n")
      .slice(0, 6)
      .join("\n  ");
    console.log(`failed file: ${relative(process.cwd(), suite.name)}\n  ${message}`);
  }
}
console.log(`tests: ${passed} passed, ${failed} failed, ${skipped} skipped`);
