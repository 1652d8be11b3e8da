#!/bin/sh
# offlineBase.sh NODE OUT.tar: a root filesystem for a Node image made from this machine's own
# files, for building the Dockerfile where no image can be pulled (the e2e test imports it with
# `docker import` and passes it as NODE_IMAGE). It holds what the Dockerfile's two stages run:
# NODE (Node 24), npm, git (with its helpers), busybox for sh and the coreutils, the shared
# libraries all of them load, CA certificates, and /etc/passwd with the `node` user (uid 1000)
# that the official Node images have.
set -eu
node_bin=$1
out=$2
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
chmod 755 "$root"

mkdir -p "$root/bin" "$root/usr/local/bin" "$root/usr/local/lib" "$root/usr/bin" "$root/usr/lib" \
  "$root/etc/ssl/certs" "$root/tmp" "$root/home/node" "$root/root"
chmod 1777 "$root/tmp"
cp /bin/busybox "$root/bin/busybox"
ln -s /bin/busybox "$root/usr/bin/env" # for `#!/usr/bin/env node` scripts (npm bins)
for applet in $(/bin/busybox --list); do
  [ "$applet" = busybox ] || ln -sf busybox "$root/bin/$applet"
done
cp "$node_bin" "$root/usr/local/bin/node"
cp -a "$(dirname "$(readlink -f "$(command -v npm)")")/.." "$root/usr/local/lib/npm"
printf '#!/bin/sh\nexec node /usr/local/lib/npm/bin/npm-cli.js "$@"\n' >"$root/usr/local/bin/npm"
chmod 755 "$root/usr/local/bin/npm"
cp /usr/bin/git "$root/usr/bin/git"
cp -a /usr/lib/git-core "$root/usr/lib/git-core"
[ -d /usr/share/git-core ] && mkdir -p "$root/usr/share" && cp -a /usr/share/git-core "$root/usr/share/git-core"
cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/"

# Every shared library the binaries load, at the path the loader looks for it.
for bin in "$root/usr/local/bin/node" "$root/usr/bin/git" "$root"/usr/lib/git-core/*; do
  [ -f "$bin" ] && [ ! -L "$bin" ] || continue
  ldd "$bin" 2>/dev/null | awk '/=> \//{print $3} /^\t\/[^ ]+ \(/{print $1}' || true
done | sort -u | while read -r lib; do
  mkdir -p "$root$(dirname "$lib")"
  cp -L "$lib" "$root$lib"
done

cat >"$root/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/bin/sh
node:x:1000:1000:node:/home/node:/bin/sh
PASSWD
cat >"$root/etc/group" <<'GROUP'
root:x:0:
node:x:1000:
GROUP
chown 1000:1000 "$root/home/node"
tar --numeric-owner -C "$root" -cf "$out" .
