#!/usr/bin/env bash
# Installs the PostgreSQL server binaries the state tests start (initdb, postgres, pg_ctl under
# /usr/lib/postgresql/<major>/bin). Idempotent: does nothing when they are already there.
# The tests run their own server in a temp dir, so no distribution cluster is created or started.
set -euo pipefail

if compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; then
  exit 0
fi
# Test files run in parallel workers and each may get here: one installs, the others wait for it
# (two apt-get at once fail on dpkg's lock), then find the binaries.
exec 9>"${TMPDIR:-/tmp}/stackpilot-install-postgres.lock"
flock 9
if compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; then
  exit 0
fi
if [[ "$(id -u)" != 0 ]]; then
  echo "install-postgres.sh: PostgreSQL server binaries are missing and installing them needs root" >&2
  exit 1
fi

# Keep the package from creating (and trying to start) the default 'main' cluster.
mkdir -p /etc/postgresql-common
if [[ ! -e /etc/postgresql-common/createcluster.conf ]]; then
  echo "create_main_cluster = false" >/etc/postgresql-common/createcluster.conf
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q -o Dpkg::Options::=--force-confold postgresql
