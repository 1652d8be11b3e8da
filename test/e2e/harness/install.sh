#!/usr/bin/env bash
# Installs what the e2e test-host harness needs (Debian 12). Idempotent: only
# missing packages are installed, and apt-get update runs only when something
# is missing. Safe to run in CI before every e2e run.
#
# The harness starts its own sshd/dockerd/registry instances by pid; the
# distribution's services must never be running, because they would compete
# for the same default paths (/var/run/docker.sock, /run/sshd.pid, port 5000).
set -euo pipefail

# package -> a file it provides (checked instead of dpkg state so that a tool
# installed some other way still counts as present).
declare -A wanted=(
  [docker.io]=/usr/sbin/dockerd
  [docker-compose]=/usr/bin/docker-compose
  [openssh-server]=/usr/sbin/sshd
  [openssh-client]=/usr/bin/ssh-keygen
  [docker-registry]=/usr/bin/docker-registry
  [busybox-static]=/bin/busybox
  [iproute2]=/usr/sbin/ip
  [procps]=/usr/bin/ps
  [passwd]=/usr/sbin/useradd
  [util-linux]=/usr/sbin/runuser
  [coreutils]=/usr/bin/env
  [python3]=/usr/bin/python3
  [iptables]=/usr/sbin/iptables
  # The web UI's browser tests (test/e2e/ui.test.ts): Debian's Chromium driven by playwright-core.
  [chromium]=/usr/bin/chromium
  [fonts-dejavu-core]=/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf
)

missing=()
for pkg in "${!wanted[@]}"; do
  if [[ ! -e "${wanted[$pkg]}" ]]; then
    missing+=("$pkg")
  fi
done
# busybox-static must really be the static build: the binary is copied into a
# scratch image that has no libc.
if [[ -e /bin/busybox ]] && ! dpkg -s busybox-static >/dev/null 2>&1; then
  if ldd /bin/busybox >/dev/null 2>&1; then
    missing+=(busybox-static)
  fi
fi

if ((${#missing[@]} == 0)); then
  echo "e2e harness: all packages present"
  exit 0
fi

echo "e2e harness: installing ${missing[*]}"

# Keep maintainer scripts from starting dockerd/containerd/sshd/registry
# (there is no systemd here, so invoke-rc.d would fall back to the sysv init
# scripts and really start them). Only add a policy if none exists, and only
# remove the one we added.
policy=/usr/sbin/policy-rc.d
added_policy=0
if [[ ! -e "$policy" ]]; then
  printf '#!/bin/sh\n# added by stackpilot e2e install.sh\nexit 101\n' >"$policy"
  chmod 755 "$policy"
  added_policy=1
fi
cleanup() {
  if ((added_policy)); then rm -f "$policy"; fi
}
trap cleanup EXIT

# Remember which daemons were already running so we only stop ones that the
# package installation itself started (should be none, thanks to the policy).
daemons=(dockerd containerd sshd docker-registry)
declare -A before=()
for d in "${daemons[@]}"; do
  before[$d]="$(pidof "$d" 2>/dev/null || true)"
done

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

for d in "${daemons[@]}"; do
  for pid in $(pidof "$d" 2>/dev/null || true); do
    if [[ " ${before[$d]} " != *" $pid "* ]]; then
      echo "e2e harness: stopping $d (pid $pid) auto-started by its package"
      kill "$pid" 2>/dev/null || true
    fi
  done
done

# The sysv scripts would start these again on a boot of a machine with an init;
# CI machines are fresh, but a developer's machine may not be.
if command -v update-rc.d >/dev/null 2>&1; then
  for svc in docker containerd ssh docker-registry; do
    if [[ -e "/etc/init.d/$svc" ]]; then
      update-rc.d "$svc" disable >/dev/null 2>&1 || true
    fi
  done
fi

echo "e2e harness: install done"
