#!/bin/sh
# The whole test suite (README's test command runs this through `npm test`):
# typecheck, lint, unit and integration tests on real git, then end-to-end tests on real hosts.
# STACKPILOT_E2E=0 skips the end-to-end part (it needs root to start sshd, dockerd and namespaces).
set -eu
cd "$(dirname "$0")/.."
mkdir -p .tmp
rm -f .tmp/unit*.log .tmp/unit*.rc .tmp/e2e*.log .tmp/e2e*.rc .tmp/vitest-*.json

echo "== typecheck"
tsc -p tsconfig.json --noEmit
echo "== lint"
biome check --diagnostic-level=error .

echo "== unit and integration tests"
# The state tests start their own PostgreSQL server: its binaries are installed here, before the
# test workers start, so that no test file spends its hook's time on apt-get (a fresh machine).
bash test/helpers/install-postgres.sh || echo "PostgreSQL server binaries missing: the Postgres state tests will fail"
status=0
failed_parts=""
reports=""
run_again=""
times=""
# One vitest run named NAME (its log .tmp/NAME.log, exit code .tmp/NAME.rc, JSON report
# .tmp/vitest-NAME.json, added to the reports summed up at the end); the rest are vitest's arguments.
vitest_run() {
  name=$1
  shift
  { rc=0; vitest run "$@" --reporter=default --reporter=json --outputFile.json=".tmp/vitest-$name.json" || rc=$?; echo "$rc" > ".tmp/$name.rc"; } 2>&1 | tee ".tmp/$name.log"
  reports="$reports .tmp/vitest-$name.json"
  code=$(cat ".tmp/$name.rc")
}
# One part of the suite (unit, e2e). A test worker that died under a test (vitest: "Worker exited
# unexpectedly"; no test failed) has its unfinished files run once more, said loudly in the log; a
# failed test is never run again.
run_part() {
  part=$1
  shift
  started=$(date +%s)
  vitest_run "$part" "$@"
  unfinished=$(node scripts/test-summary.mjs --unfinished ".tmp/vitest-$part.json")
  if [ "$code" != 0 ] && [ -n "$unfinished" ]; then
    echo "== $part: a test worker died in $(echo $unfinished); running those files again"
    # shellcheck disable=SC2086 # one word per file
    vitest_run "$part-again" "$@" $unfinished
    echo "== $part: the files run again exited $code (the first run's worker death is in .tmp/$part.log)"
    run_again="$run_again $part:$(echo $unfinished | tr ' ' ',')(exit $code)"
  fi
  [ "$code" = 0 ] || { status=$code; failed_parts="$failed_parts $part(exit $code)"; }
  times="$times $part $(($(date +%s) - started)) s,"
}
run_part unit

echo "== CLI smoke test (the built binary)"
rm -rf .tmp/smoke-repo && sh fixtures/build-monorepo.sh .tmp/smoke-repo
node bin/stackpilot.js plan --repo .tmp/smoke-repo --json > .tmp/smoke-plan.json
node -e 'const p = JSON.parse(require("fs").readFileSync(".tmp/smoke-plan.json", "utf8")); if (!Array.isArray(p.stacks) || p.stacks.length !== 6) { console.error("smoke: unexpected plan"); process.exit(1); } console.log("smoke: ok,", p.stacks.length, "stacks")' || { status=1; failed_parts="$failed_parts smoke"; }

if [ "${STACKPILOT_E2E:-1}" != "0" ] && [ -f vitest.e2e.config.ts ]; then
  echo "== end-to-end tests on real hosts"
  bash test/e2e/harness/install.sh
  run_part e2e -c vitest.e2e.config.ts
fi

# The suite's time in view as it grows (CI allows 90 minutes on 2 cores).
echo "time:${times%,}"
[ -z "$run_again" ] || echo "run again after a test worker died:$run_again"
# shellcheck disable=SC2086 # one word per report
node scripts/test-summary.mjs $reports
# What vitest said about failures that are not failed tests (unhandled errors, files that did not
# run), repeated here: only the end of a long log may be seen.
for part in unit e2e; do
  [ -f ".tmp/$part.log" ] && [ "$(cat ".tmp/$part.rc" 2>/dev/null)" != 0 ] &&
    grep -n -E -A12 "Unhandled (Error|Rejection)|FAIL |Failed to|Worker exited|Timeout calling|FATAL ERROR|Native stack trace|Segmentation fault|core dumped|out of memory" ".tmp/$part.log" | head -80
done
# The closing line names the parts that failed: a run can fail with every test passed (an unhandled
# error, a file that did not load), and only the end of a long log may be seen.
[ -z "$failed_parts" ] || echo "failed:$failed_parts"
exit "$status"
