#!/usr/bin/env bash
# Stackpilot e2e test-host harness: real sshd + dockerd "hosts" on this machine.
#
#   harness.sh up <dir> <hosts>                start everything, write <dir>/harness.json
#   harness.sh down <dir>                      tear down everything recorded in <dir>
#   harness.sh stop-host <dir> <name> [ssh|network]
#   harness.sh start-host <dir> <name>
#   harness.sh pids <dir>                      pids of live processes the harness started
#
# Layout: every host gets its own network namespace (veth into a bridge that
# the harness creates in the root namespace, on a private /24 nothing else
# uses), its own unix user, its own sshd and its own dockerd. A
# docker-registry listens on the bridge address so every engine can reach it.
#
# Bookkeeping: everything created is appended to <dir>/state/resources before
# (or right after) it is created, so `down` can undo a half-finished `up`.
# Every process is started inside a cgroup the harness creates; daemons fork
# helpers (containerd, shims, docker-proxy, ssh sessions) that re-parent away
# from us, and the cgroup is how we find exactly those, and nothing else.
#
# Must run as root (netns, users, dockerd). Needs install.sh to have run.
set -euo pipefail

SELF="$(readlink -f "${BASH_SOURCE[0]}")"
STORAGE_DRIVER="${STACKPILOT_E2E_STORAGE_DRIVER:-overlay2}"
# 10.213.N.0/24 with the first free N from this one; override if it clashes.
NET_PREFIX="${STACKPILOT_E2E_NET_PREFIX:-10.213}"
NET_FIRST="${STACKPILOT_E2E_NET_FIRST:-7}"
REGISTRY_PORT=5000
AUTH_REGISTRY_PORT=5001
IMAGE_TAG="stackpilot-test/busybox:1"

log() { printf 'harness: %s\n' "$*" >&2; }
die() {
  log "$*"
  exit 1
}

# ---------------------------------------------------------------- state ---

load_dir() {
  DIR="$(readlink -f "$1")"
  STATE="$DIR/state"
}

record() { printf '%s\n' "$*" >>"$STATE/resources"; }

# Field 22 of /proc/PID/stat; comm (field 2) may contain spaces, so cut at ')'.
start_time() {
  local rest
  rest="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
  rest="${rest##*) }"
  # shellcheck disable=SC2086 # deliberate word splitting into fields
  set -- $rest
  printf '%s\n' "${20}"
}

# True only if PID is alive AND is the same process we recorded (pids recycle).
same_process() {
  local now
  now="$(start_time "$1")" || return 1
  [[ "$now" == "$2" ]]
}

cgroup_base() {
  # cgroup v1 (pids controller) or a pure v2 hierarchy.
  if [[ -f /sys/fs/cgroup/pids/cgroup.procs ]]; then
    echo /sys/fs/cgroup/pids
  elif [[ -f /sys/fs/cgroup/cgroup.controllers ]]; then
    echo /sys/fs/cgroup
  else
    die "no usable cgroup hierarchy (need v1 pids controller or cgroup2)"
  fi
}

# All pids in a cgroup subtree (leaf names relative to the harness cgroup).
cgroup_pids() {
  local root="$1"
  [[ -d "$root" ]] || return 0
  find "$root" -name cgroup.procs -exec cat {} + 2>/dev/null || true
}

# spawn NAME LEAF LOG CMD... : start CMD in the background inside cgroup LEAF,
# record its pid. The subshell moves itself into the cgroup and then execs, so
# $! is the daemon's own pid and every descendant is in the cgroup.
spawn() {
  local name="$1" leaf="$2" logf="$3"
  shift 3
  local cg="$CGROOT/$CGNAME/$leaf"
  mkdir -p "$cg"
  (
    echo "$BASHPID" >"$cg/cgroup.procs"
    # setsid: detach from the caller's process group/terminal so a Ctrl-C in
    # the test runner does not kill daemons behind down's back.
    exec setsid "$@" </dev/null >>"$logf" 2>&1
  ) &
  local pid=$!
  local st
  st="$(start_time "$pid" || echo 0)"
  record "pid $pid $st $name"
  printf '%s %s\n' "$pid" "$st" >"$STATE/$name.pid"
}

# ------------------------------------------------------------------- up ---

wait_for() { # wait_for SECONDS DESCRIPTION CMD...
  local secs="$1" what="$2"
  shift 2
  local deadline=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then
      log "timed out after ${secs}s waiting for $what"
      return 1
    fi
    sleep 0.1
  done
}

tcp_banner() { # tcp_banner HOST PORT PREFIX
  local line
  exec 3<>"/dev/tcp/$1/$2" || return 1
  IFS= read -r -t 2 line <&3 || true
  exec 3>&- 3<&-
  [[ "$line" == "$3"* ]]
}

http_status() { # http_status HOST PORT PATH: prints the response's status line
  local line=""
  exec 3<>"/dev/tcp/$1/$2" || return 1
  printf 'GET %s HTTP/1.0\r\nHost: %s\r\n\r\n' "$3" "$1" >&3
  IFS= read -r -t 2 line <&3 || true
  exec 3>&- 3<&-
  printf '%s' "$line"
}

http_ok() { [[ "$(http_status "$@")" == HTTP/1.?" 200"* ]]; }

# Any HTTP status will do (a registry that wants a login answers 401).
http_answers() { [[ "$(http_status "$@")" == HTTP/1.?" "* ]]; }

pid_alive() { kill -0 "$1" 2>/dev/null && ! is_zombie "$1"; }

# An exited child of a slow reaper (pid 1 here) lingers as a zombie; it holds
# no resources and must not count as alive.
is_zombie() {
  local rest
  rest="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
  rest="${rest##*) }"
  [[ "${rest:0:1}" == Z ]]
}

# Pick a free 10.213.N.0/24 and create the bridge holding .1 while holding a
# lock, so two harnesses started at once cannot pick the same subnet.
alloc_network() {
  exec 9>/tmp/stackpilot-e2e-net.lock
  flock 9
  local n
  for ((n = NET_FIRST; n < 255; n++)); do
    if ! ip -4 -o addr show | grep -q " ${NET_PREFIX//./\\.}\.$n\." &&
      [[ -z "$(ip -4 route show table all to "$NET_PREFIX.$n.0/24" 2>/dev/null)" ]]; then
      break
    fi
  done
  ((n < 255)) || die "no free $NET_PREFIX.N.0/24 subnet"
  NET="$NET_PREFIX.$n"
  BRIDGE="sp${ID}br"
  record "link $BRIDGE"
  ip link add "$BRIDGE" type bridge
  # No IPv6 on our links: nothing needs it and it keeps them silent.
  sysctl -qw "net.ipv6.conf.$BRIDGE.disable_ipv6=1" 2>/dev/null || true
  ip addr add "$NET.1/24" dev "$BRIDGE"
  ip link set "$BRIDGE" up
  flock -u 9
  exec 9>&-
}

build_rootfs() {
  local root="$DIR/image/rootfs"
  mkdir -p "$root"/{bin,etc,tmp,root,proc,sys,dev,var/www}
  chmod 1777 "$root/tmp"
  cp /bin/busybox "$root/bin/busybox"
  local applet
  for applet in $(/bin/busybox --list); do
    [[ "$applet" == busybox ]] || ln -sf busybox "$root/bin/$applet"
  done
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$root/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
  echo '<h1>stackpilot test image</h1>' >"$root/var/www/index.html"
  tar --numeric-owner --owner=0 --group=0 -C "$root" -cf "$DIR/image/rootfs.tar" .
}

start_registry() {
  mkdir -p "$DIR/registry/data"
  cat >"$DIR/registry/config.yml" <<EOF
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $DIR/registry/data
  delete:
    enabled: true
http:
  addr: $NET.1:$REGISTRY_PORT
EOF
  spawn registry registry "$DIR/registry/registry.log" \
    /usr/bin/docker-registry serve "$DIR/registry/config.yml"

  # A second registry that wants a login (htpasswd with bcrypt, the only hash it reads), for
  # tests of credentials: the password is new per run and readable by root only.
  mkdir -p "$DIR/registry-auth/data"
  head -c 18 /dev/urandom | base64 | tr -d '/+=' >"$DIR/registry-auth/password"
  chmod 600 "$DIR/registry-auth/password"
  python3 -W ignore -c 'import crypt, sys; print("stackpilot:" + crypt.crypt(sys.stdin.read().strip(), crypt.mksalt(crypt.METHOD_BLOWFISH)))' \
    <"$DIR/registry-auth/password" >"$DIR/registry-auth/htpasswd"
  cat >"$DIR/registry-auth/config.yml" <<EOF
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $DIR/registry-auth/data
http:
  addr: $NET.1:$AUTH_REGISTRY_PORT
auth:
  htpasswd:
    realm: stackpilot-test
    path: $DIR/registry-auth/htpasswd
EOF
  spawn registry-auth registry-auth "$DIR/registry-auth/registry.log" \
    /usr/bin/docker-registry serve "$DIR/registry-auth/config.yml"
}

# Sequential part of host setup: user accounts (useradd locks /etc/passwd and
# fails instead of waiting when run in parallel) and network plumbing.
create_host() {
  local i="$1" name="h$1"
  local hd="$DIR/$name"
  local ns="sp${ID}-$name" veth="sp${ID}$name" user="sp${ID}$name"
  local addr="$NET.$((10 + i))"

  mkdir -p "$hd"/{ssh,docker,home,deploy}
  chmod 755 "$hd" "$hd/ssh" "$hd/docker"

  if getent passwd "$user" >/dev/null || getent group "$user" >/dev/null; then
    die "user or group $user already exists; refusing to reuse it"
  fi
  record "user $user"
  record "group $user"
  # '*' instead of the default '!': sshd without PAM refuses locked ('!')
  # accounts even for public-key logins.
  useradd -M -d "$hd/home" -s /bin/bash -U -p '*' -c "stackpilot e2e $ID" "$user"
  chown "$user:$user" "$hd/home" "$hd/deploy"
  chmod 700 "$hd/home"
  chmod 755 "$hd/deploy"

  record "netns $ns"
  ip netns add "$ns"
  record "link $veth"
  ip link add "$veth" type veth peer name eth0 netns "$ns"
  sysctl -qw "net.ipv6.conf.$veth.disable_ipv6=1" 2>/dev/null || true
  ip link set "$veth" master "$BRIDGE" up
  ip netns exec "$ns" sysctl -qw net.ipv6.conf.eth0.disable_ipv6=1 2>/dev/null || true
  ip -n "$ns" addr add "$addr/24" dev eth0
  ip -n "$ns" link set lo up
  ip -n "$ns" link set eth0 up
  # Deliberately no default route: a host can reach only the /24 and itself.

  # Own UTS namespace too, so `hostname` and `docker info` name the host
  # (kept alive by a bind mount on a file; down unmounts it).
  touch "$hd/uts"
  unshare --uts="$hd/uts" hostname "$name"

  printf '%s\n' "$ns" >"$hd/netns"
}

write_sshd_config() {
  local name="$1" addr="$2" user="$3" hd="$DIR/$1"
  cat >"$hd/ssh/sshd_config" <<EOF
# generated by stackpilot e2e harness
ListenAddress $addr
Port 22
HostKey $hd/ssh/ssh_host_ed25519_key
PidFile $hd/ssh/sshd.pid
AuthorizedKeysFile $hd/ssh/authorized_keys
AllowUsers $user
PermitRootLogin no
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
# The harness dir lives under a root-owned /tmp; StrictModes would reject it.
StrictModes no
# The user reaches its own engine with plain \`docker\` / \`docker-compose\`.
SetEnv DOCKER_HOST=unix://$hd/docker/docker.sock
Subsystem sftp internal-sftp
# Deploy tests open several connections at once; don't drop them randomly.
MaxStartups 100:30:200
MaxSessions 50
LogLevel VERBOSE
EOF
}

start_sshd() { # start_sshd NAME
  local name="$1" hd="$DIR/$1" ns
  ns="$(cat "$hd/netns")"
  # sshd re-execs itself, so it must be started by absolute path.
  spawn "$name-sshd" "$name-sshd" "$hd/ssh/sshd.log" \
    nsenter "--net=/run/netns/$ns" "--uts=$hd/uts" /usr/sbin/sshd -D -e -f "$hd/ssh/sshd_config"
}

# Parallel part of host setup: keys, sshd, dockerd; waits until both answer.
boot_host() {
  local i="$1" name="h$1"
  local hd="$DIR/$name"
  local ns="sp${ID}-$name" user="sp${ID}$name"
  local addr="$NET.$((10 + i))"
  local sock="$hd/docker/docker.sock"

  ssh-keygen -q -t ed25519 -N '' -C "$name" -f "$hd/ssh/ssh_host_ed25519_key"
  cp "$DIR/client/id_ed25519.pub" "$hd/ssh/authorized_keys"
  chmod 644 "$hd/ssh/authorized_keys"
  write_sshd_config "$name" "$addr" "$user"
  /usr/sbin/sshd -t -f "$hd/ssh/sshd_config"
  start_sshd "$name"

  # Private /etc/docker per engine (bind-mounted inside its mount namespace):
  # dockerd 20.10 keeps its identity in /etc/docker/key.json, so sharing the
  # real one would give every engine the same ID; it also keeps a developer's
  # daemon.json and certs.d out of the picture.
  mkdir -p "$hd/docker/etc" /etc/docker
  echo '{}' >"$hd/docker/etc/daemon.json"
  # - own netns (nsenter, not `ip netns exec`: that remounts /sys and hides
  #   the cgroup mounts, and dockerd then refuses to start);
  # - own mount namespace (slave) so overlay/netns mounts made by this engine
  #   die with it instead of leaking into the root namespace;
  # - --bridge=none/--iptables=false: leave the machine's netfilter alone;
  #   compose still gets its own bridge networks inside the namespace;
  # - --cgroup-parent: containers land under the harness cgroup too;
  # - --shutdown-timeout: cap a daemon shutdown (down kills containers first,
  #   since `sleep` as pid 1 ignores SIGTERM and would cost 10s each).
  # shellcheck disable=SC2016 # $0/$@ belong to the inner sh
  spawn "$name-dockerd" "$name-daemons" "$hd/docker/dockerd.log" \
    nsenter "--net=/run/netns/$ns" "--uts=$hd/uts" unshare --mount --propagation slave \
    /bin/sh -c 'mount --bind "$0" /etc/docker && exec "$@"' "$hd/docker/etc" \
    /usr/sbin/dockerd \
    --config-file "$hd/docker/etc/daemon.json" \
    --data-root "$hd/docker/data" \
    --exec-root "$hd/docker/run" \
    --pidfile "$hd/docker/dockerd.pid" \
    -H "unix://$sock" \
    --group "$user" \
    --storage-driver "$STORAGE_DRIVER" \
    --bridge=none --iptables=false --ip-masq=false \
    --cgroup-parent "/$CGNAME/$name-containers" \
    --insecure-registry "$NET.0/24" \
    --shutdown-timeout 2

  local dpid spid
  read -r dpid _ <"$STATE/$name-dockerd.pid"
  read -r spid _ <"$STATE/$name-sshd.pid"
  local deadline=$((SECONDS + 60))
  until docker -H "unix://$sock" version --format '{{.Server.Version}}' >/dev/null 2>&1; do
    if ! pid_alive "$dpid"; then
      tail -n 20 "$hd/docker/dockerd.log" >&2 || true
      die "dockerd for $name exited during startup"
    fi
    ((SECONDS < deadline)) || die "dockerd for $name did not answer within 60s"
    sleep 0.1
  done
  until tcp_banner "$addr" 22 SSH-; do
    if ! pid_alive "$spid"; then
      tail -n 20 "$hd/ssh/sshd.log" >&2 || true
      die "sshd for $name exited during startup"
    fi
    ((SECONDS < deadline)) || die "sshd for $name did not answer within 60s"
    sleep 0.1
  done
}

host_json() {
  local i="$1" name="h$1"
  local hd="$DIR/$name"
  local pub fp
  pub="$(cut -d' ' -f1,2 "$hd/ssh/ssh_host_ed25519_key.pub")"
  fp="$(ssh-keygen -l -E sha256 -f "$hd/ssh/ssh_host_ed25519_key.pub" | cut -d' ' -f2)"
  cat <<EOF
    {
      "name": "$name",
      "address": "$NET.$((10 + i))",
      "port": 22,
      "user": "sp${ID}$name",
      "keyPath": "$DIR/client/id_ed25519",
      "hostKeyLine": "$pub",
      "hostKeyFingerprint": "$fp",
      "dockerHost": "unix://$hd/docker/docker.sock",
      "dockerSocket": "$hd/docker/docker.sock",
      "deployRoot": "$hd/deploy",
      "home": "$hd/home",
      "netns": "sp${ID}-$name",
      "veth": "sp${ID}$name"
    }
EOF
}

on_up_exit() {
  local rc=$?
  if ((rc != 0)); then
    log "startup failed (exit $rc), tearing down"
    "$SELF" down "$DIR" >&2 || true
  fi
}

cmd_up() {
  [[ $# -eq 2 ]] || die "usage: harness.sh up <dir> <hosts>"
  local hosts="$2"
  [[ "$hosts" =~ ^[1-9][0-9]?$ && "$hosts" -le 40 ]] || die "hosts must be 1..40"
  [[ "$(id -u)" == 0 ]] || die "must run as root"
  local tool
  for tool in dockerd docker docker-compose docker-registry sshd ssh-keygen busybox ip nsenter unshare flock useradd python3; do
    command -v "$tool" >/dev/null || [[ -x "/usr/sbin/$tool" ]] ||
      die "$tool not found; run test/e2e/harness/install.sh"
  done

  mkdir -p "$1"
  load_dir "$1"
  # containerd puts sockets under the exec root; unix socket paths max ~107.
  ((${#DIR} <= 48)) || die "harness dir path too long for unix sockets: $DIR"
  [[ ! -e "$STATE" ]] || die "$DIR already holds a harness"
  mkdir -p "$STATE"
  chmod 755 "$DIR"
  : >"$STATE/resources"
  echo "stackpilot-e2e-harness" >"$STATE/marker"

  # Anything failing from here on must undo what was done so far.
  trap on_up_exit EXIT

  ID="$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')"
  ID="${ID:0:5}"
  CGROOT="$(cgroup_base)"
  CGNAME="stackpilot-e2e-$ID"
  printf 'ID=%s\nCGROOT=%s\nCGNAME=%s\n' "$ID" "$CGROOT" "$CGNAME" >"$STATE/env"
  record "cgroup $CGNAME"
  mkdir -p "$CGROOT/$CGNAME"

  local t0=$SECONDS
  # sshd insists on its privilege separation dir; the Debian package only
  # creates it from its init script, which never ran here.
  mkdir -p /run/sshd
  chmod 755 /run/sshd
  alloc_network
  printf 'NET=%s\nBRIDGE=%s\n' "$NET" "$BRIDGE" >>"$STATE/env"
  log "id $ID, network $NET.0/24 on $BRIDGE"

  mkdir -p "$DIR/client" "$DIR/image"
  ssh-keygen -q -t ed25519 -N '' -C "stackpilot-e2e-client" -f "$DIR/client/id_ed25519"

  start_registry
  build_rootfs

  local i
  for ((i = 1; i <= hosts; i++)); do
    create_host "$i"
  done

  local pids=() p
  for ((i = 1; i <= hosts; i++)); do
    boot_host "$i" &
    pids+=("$!")
  done
  local failed=0
  for p in "${pids[@]}"; do
    wait "$p" || failed=1
  done
  ((failed == 0)) || die "a host failed to start"

  wait_for 30 "registry on $NET.1:$REGISTRY_PORT" http_ok "$NET.1" "$REGISTRY_PORT" /v2/
  wait_for 30 "registry on $NET.1:$AUTH_REGISTRY_PORT" http_answers "$NET.1" "$AUTH_REGISTRY_PORT" /v2/

  # Import once and save/load into the others, so every engine has the very
  # same image ID (as if each had pulled it), then seed the registry with it.
  local first="unix://$DIR/h1/docker/docker.sock"
  docker -H "$first" import --change 'CMD ["sh"]' "$DIR/image/rootfs.tar" "$IMAGE_TAG" >/dev/null
  if ((hosts > 1)); then
    docker -H "$first" save -o "$DIR/image/image.tar" "$IMAGE_TAG"
    pids=()
    for ((i = 2; i <= hosts; i++)); do
      docker -H "unix://$DIR/h$i/docker/docker.sock" load -q -i "$DIR/image/image.tar" >/dev/null &
      pids+=("$!")
    done
    for p in "${pids[@]}"; do
      wait "$p" || die "loading the test image failed"
    done
  fi
  local regimage="$NET.1:$REGISTRY_PORT/$IMAGE_TAG"
  docker -H "$first" tag "$IMAGE_TAG" "$regimage"
  docker -H "$first" push -q "$regimage" >/dev/null
  docker -H "$first" rmi "$regimage" >/dev/null

  {
    printf '{\n  "id": "%s",\n  "dir": "%s",\n  "subnet": "%s.0/24",\n' "$ID" "$DIR" "$NET"
    printf '  "bridge": "%s",\n  "cgroup": "%s/%s",\n' "$BRIDGE" "$CGROOT" "$CGNAME"
    printf '  "storageDriver": "%s",\n' "$STORAGE_DRIVER"
    printf '  "clientKeyPath": "%s",\n' "$DIR/client/id_ed25519"
    printf '  "knownHostsPath": "%s",\n' "$DIR/client/known_hosts"
    printf '  "image": "%s",\n' "$IMAGE_TAG"
    printf '  "registry": { "address": "%s", "image": "%s" },\n' "$NET.1:$REGISTRY_PORT" "$regimage"
    printf '  "authRegistry": { "address": "%s", "username": "stackpilot", "passwordFile": "%s" },\n' \
      "$NET.1:$AUTH_REGISTRY_PORT" "$DIR/registry-auth/password"
    printf '  "hosts": [\n'
    for ((i = 1; i <= hosts; i++)); do
      host_json "$i"
      if ((i < hosts)); then printf '    ,\n'; fi
    done
    printf '  ]\n}\n'
  } >"$DIR/harness.json.tmp"
  : >"$DIR/client/known_hosts"
  for ((i = 1; i <= hosts; i++)); do
    printf '%s %s\n' "$NET.$((10 + i))" "$(cut -d' ' -f1,2 "$DIR/h$i/ssh/ssh_host_ed25519_key.pub")" \
      >>"$DIR/client/known_hosts"
  done
  mv "$DIR/harness.json.tmp" "$DIR/harness.json"
  log "up: $hosts host(s) in $((SECONDS - t0))s"
  trap - EXIT
}

# ----------------------------------------------------------- host control ---

load_env() {
  [[ -f "$STATE/env" ]] || die "$DIR is not a running harness"
  # shellcheck disable=SC1091
  source "$STATE/env"
}

cmd_stop_host() {
  [[ $# -ge 2 ]] || die "usage: harness.sh stop-host <dir> <name> [ssh|network]"
  load_dir "$1"
  load_env
  local name="$2" mode="${3:-ssh}"
  [[ -d "$DIR/$name" ]] || die "no host $name"
  case "$mode" in
  ssh)
    # Like a crashed sshd: the listener and every open session go away at
    # once. The engine keeps running, as it would on a host that is only
    # unreachable.
    local cg="$CGROOT/$CGNAME/$name-sshd" p tries=0
    while [[ -n "$(cgroup_pids "$cg")" ]]; do
      for p in $(cgroup_pids "$cg"); do kill -KILL "$p" 2>/dev/null || true; done
      ((++tries < 100)) || die "could not stop sshd of $name"
      sleep 0.05
    done
    ;;
  network)
    # Like a pulled cable: packets to the host go nowhere, connects time out.
    ip link set "sp${ID}$name" down
    ;;
  *) die "unknown stop mode $mode" ;;
  esac
}

cmd_start_host() {
  [[ $# -eq 2 ]] || die "usage: harness.sh start-host <dir> <name>"
  load_dir "$1"
  load_env
  local name="$2"
  [[ -d "$DIR/$name" ]] || die "no host $name"
  local i="${name#h}" addr
  addr="$NET.$((10 + i))"
  ip link set "sp${ID}$name" up
  if [[ -z "$(cgroup_pids "$CGROOT/$CGNAME/$name-sshd")" ]]; then
    start_sshd "$name"
  fi
  wait_for 30 "sshd of $name" tcp_banner "$addr" 22 SSH-
}

cmd_pids() {
  load_dir "$1"
  load_env
  local kind pid st _
  {
    cgroup_pids "$CGROOT/$CGNAME"
    while read -r kind pid st _; do
      if [[ "$kind" == pid ]] && same_process "$pid" "$st"; then echo "$pid"; fi
    done <"$STATE/resources"
  } | sort -nu
}

# ----------------------------------------------------------------- down ---

cmd_down() {
  [[ $# -eq 1 ]] || die "usage: harness.sh down <dir>"
  load_dir "$1"
  if [[ ! -f "$STATE/marker" ]]; then
    [[ -e "$DIR" ]] || return 0
    die "$DIR is not a harness dir (no state/marker); not touching it"
  fi
  local CGROOT="" CGNAME=""
  if [[ -f "$STATE/env" ]]; then
    # shellcheck disable=SC1091
    source "$STATE/env"
  fi
  local res="$STATE/resources"
  touch "$res"

  local kind a b _ p
  local -a pids=() users=() groups=() links=() netnses=() cgroups=()
  while read -r kind a b _; do
    case "$kind" in
    pid) if same_process "$a" "$b"; then pids+=("$a"); fi ;;
    user) users+=("$a") ;;
    group) groups+=("$a") ;;
    link) links+=("$a") ;;
    netns) netnses+=("$a") ;;
    cgroup) cgroups+=("$a") ;;
    esac
  done <"$res"

  # 1. Containers first: dockerd would otherwise give each one 10s to react
  #    to SIGTERM on shutdown (a `sleep` as pid 1 never does), and nothing
  #    here is worth a clean stop since the whole data root gets deleted.
  local cg
  if [[ -n "$CGROOT" && -n "$CGNAME" ]]; then
    for cg in "$CGROOT/$CGNAME"/*-containers; do
      [[ -d "$cg" ]] || continue
      for p in $(cgroup_pids "$cg"); do kill -KILL "$p" 2>/dev/null || true; done
    done
  fi
  # 2. Then ask the daemons to stop, give them a few seconds.
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  local deadline=$((SECONDS + 5)) alive
  while ((SECONDS < deadline)); do
    alive=0
    for p in "${pids[@]}"; do pid_alive "$p" && alive=1; done
    ((alive)) || break
    sleep 0.1
  done
  for p in "${pids[@]}"; do
    if pid_alive "$p" && ! is_zombie "$p"; then log "pid $p ($(cat "/proc/$p/comm" 2>/dev/null)) ignored SIGTERM, killing"; fi
  done

  # 3. Kill whatever is left in our cgroup: shims, containers, ssh sessions.
  local tries
  for cg in "${cgroups[@]}"; do
    [[ -n "$CGROOT" && -d "$CGROOT/$cg" ]] || continue
    tries=0
    while [[ -n "$(cgroup_pids "$CGROOT/$cg")" ]]; do
      for p in $(cgroup_pids "$CGROOT/$cg"); do kill -KILL "$p" 2>/dev/null || true; done
      ((++tries < 200)) || {
        log "processes left in cgroup $cg"
        break
      }
      sleep 0.05
    done
  done
  # Processes of our users outside the cgroup (e.g. started through exec()).
  local u uid
  for u in "${users[@]}"; do
    uid="$(id -u "$u" 2>/dev/null)" || continue
    for p in /proc/[0-9]*; do
      if [[ "$(stat -c %u "$p" 2>/dev/null)" == "$uid" ]]; then kill -KILL "${p#/proc/}" 2>/dev/null || true; fi
    done
  done
  for p in "${pids[@]}"; do
    if pid_alive "$p"; then kill -KILL "$p" 2>/dev/null || true; fi
  done

  # 4. Mounts should have died with the engines' mount namespaces; unmount
  #    anything that still points into our dir anyway (deepest first).
  local m
  while read -r m; do
    umount -l "$m" 2>/dev/null || true
  done < <(awk -v d="$DIR/" 'index($5, d) == 1 { print $5 }' /proc/self/mountinfo | sort -r)

  # 5. cgroups: docker creates ours under every v1 hierarchy, remove them all.
  local h
  for cg in "${cgroups[@]}"; do
    for h in /sys/fs/cgroup/*/"$cg" /sys/fs/cgroup/"$cg"; do
      [[ -d "$h" ]] || continue
      find "$h" -depth -type d -exec rmdir {} \; 2>/dev/null || true
      [[ ! -d "$h" ]] || log "could not remove cgroup $h"
    done
  done

  # 6. Network and users.
  for a in "${netnses[@]}"; do
    if [[ -e "/run/netns/$a" ]]; then ip netns del "$a" 2>/dev/null || log "could not delete netns $a"; fi
  done
  for a in "${links[@]}"; do
    if ip link show "$a" >/dev/null 2>&1; then ip link del "$a" 2>/dev/null || log "could not delete link $a"; fi
  done
  for a in "${users[@]}"; do
    if getent passwd "$a" >/dev/null; then userdel "$a" 2>/dev/null || log "could not delete user $a"; fi
  done
  for a in "${groups[@]}"; do
    if getent group "$a" >/dev/null; then groupdel "$a" 2>/dev/null || log "could not delete group $a"; fi
  done

  rm -rf "$DIR"
}

# ----------------------------------------------------------------- main ---

cmd="${1:-}"
shift || true
case "$cmd" in
up) cmd_up "$@" ;;
down) cmd_down "$@" ;;
stop-host) cmd_stop_host "$@" ;;
start-host) cmd_start_host "$@" ;;
pids) cmd_pids "$@" ;;
*) die "usage: harness.sh up|down|stop-host|start-host|pids <dir> ..." ;;
esac
