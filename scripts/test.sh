#!/bin/sh
# The whole test suite (README's test command runs this through `npm test`):
# typecheck, lint, unit and integration tests on real git, then end-to-end tests on real hosts.
# STACKPILOT_E2E=0 skips the end-to-end part (it needs root to start sshd, dockerd and namespaces).
set -eu
cd "$(dirname "$0")/.."
mkdir -p .tmp
rm -f .tmp/unit.log .tmp/unit.rc .tmp/e2e.log .tmp/e2e.rc

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
{ rc=0; vitest run --reporter=default --reporter=json --outputFile.json=.tmp/vitest-unit.json || rc=$?; echo "$rc" > .tmp/unit.rc; } 2>&1 | tee .tmp/unit.log
code=$(cat .tmp/unit.rc)
[ "$code" = 0 ] || { status=$code; failed_parts="$failed_parts unit(exit $code)"; }

echo "== CLI smoke test (the built binary)"
rm -rf .tmp/smoke-repo && sh fixtures/build-monorepo.sh .tmp/smoke-repo
node bin/stackpilot.js plan --repo .tmp/smoke-repo --json > .tmp/smoke-plan.json
node -e 'const p = JSON.parse(require("fs").readFileSync(".tmp/smoke-plan.json", "utf8")); if (!Array.isArray(p.stacks) || p.stacks.length !== 6) { console.error("smoke: unexpected plan"); process.exit(1); } console.log("smoke: ok,", p.stacks.length, "stacks")' || { status=1; failed_parts="$failed_parts smoke"; }

if [ "${STACKPILOT_E2E:-1}" != "0" ] && [ -f vitest.e2e.config.ts ]; then
  echo "== end-to-end tests on real hosts"
  bash test/e2e/harness/install.sh
  { rc=0; vitest run -c vitest.e2e.config.ts --reporter=default --reporter=json --outputFile.json=.tmp/vitest-e2e.json || rc=$?; echo "$rc" > .tmp/e2e.rc; } 2>&1 | tee .tmp/e2e.log
  code=$(cat .tmp/e2e.rc)
  [ "$code" = 0 ] || { status=$code; failed_parts="$failed_parts e2e(exit $code)"; }
fi

node scripts/test-summary.mjs .tmp/vitest-unit.json .tmp/vitest-e2e.json
# What vitest said about failures that are not failed tests (unhandled errors, files that did not
# run), repeated here: only the end of a long log may be seen.
for part in unit e2e; do
  [ -f ".tmp/$part.log" ] && [ "$(cat ".tmp/$part.rc" 2>/dev/null)" != 0 ] &&
    grep -n -E -A12 "Unhandled (Error|Rejection)|FAIL |Failed to|Worker exited|Timeout calling" ".tmp/$part.log" | head -80
done
# The closing line names the parts that failed: a run can fail with every test passed (an unhandled
# error, a file that did not load), and only the end of a long log may be seen.
[ -z "$failed_parts" ] || echo "failed:$failed_parts"
exit "$status"
