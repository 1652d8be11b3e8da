#!/bin/sh
# The whole test suite (README's test command runs this through `npm test`):
# typecheck, lint, unit and integration tests on real git, then end-to-end tests on real hosts.
# STACKPILOT_E2E=0 skips the end-to-end part (it needs root to start sshd, dockerd and namespaces).
set -eu
cd "$(dirname "$0")/.."
mkdir -p .tmp

echo "== typecheck"
tsc -p tsconfig.json --noEmit
echo "== lint"
biome check --diagnostic-level=error .

echo "== unit and integration tests"
status=0
vitest run --reporter=default --reporter=json --outputFile.json=.tmp/vitest-unit.json || status=$?

echo "== CLI smoke test (the built binary)"
rm -rf .tmp/smoke-repo && sh fixtures/build-monorepo.sh .tmp/smoke-repo
node bin/stackpilot.js plan --repo .tmp/smoke-repo --json > .tmp/smoke-plan.json
node -e 'const p = JSON.parse(require("fs").readFileSync(".tmp/smoke-plan.json", "utf8")); if (!Array.isArray(p.stacks) || p.stacks.length !== 6) { console.error("smoke: unexpected plan"); process.exit(1); } console.log("smoke: ok,", p.stacks.length, "stacks")' || status=1

if [ "${STACKPILOT_E2E:-1}" != "0" ] && [ -f vitest.e2e.config.ts ]; then
  echo "== end-to-end tests on real hosts"
  bash test/e2e/harness/install.sh
  vitest run -c vitest.e2e.config.ts --reporter=default --reporter=json --outputFile.json=.tmp/vitest-e2e.json || status=$?
fi

node scripts/test-summary.mjs .tmp/vitest-unit.json .tmp/vitest-e2e.json
exit "$status"
