#!/bin/sh
# The quick start: build the example monorepo and plan its last commit against the example hosts.
set -eu
cd "$(dirname "$0")/.."
repo=.tmp/demo-repo
rm -rf "$repo"
sh fixtures/build-monorepo.sh "$repo"
echo "\$ stackpilot plan --repo $repo --hosts fixtures/hosts.example.yml" >&2
node bin/stackpilot.js plan --repo "$repo" --hosts fixtures/hosts.example.yml "$@"
