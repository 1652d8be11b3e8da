#!/bin/sh
# Make a fresh checkout runnable: install dependencies (Node 24 itself comes from the npm registry
# as the `node` dev dependency, which npm scripts put first on PATH) and build dist/.
set -eu
cd "$(dirname "$0")/.."
if [ ! -x node_modules/.bin/node ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund >&2
fi
if [ ! -f dist/cli/main.js ] || [ -n "$(find src -name '*.ts' -newer dist/cli/main.js | head -n 1)" ]; then
  npm run --silent build >&2
fi
