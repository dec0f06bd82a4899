#!/usr/bin/env bash
# Fetches Debian's busybox-static for i386 and unpacks it, without installing it (installing would
# replace the host's own /bin/busybox). Prints the path of the i386 busybox binary.
#   guest-images/fetch-busybox.sh            -> guest-images/build/busybox-i386/bin/busybox
# The package version is kept in busybox-i386/VERSION; a newer candidate in the apt index is fetched again.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out="$here/build/busybox-i386"
bin="$out/bin/busybox"
if ! dpkg --print-foreign-architectures | grep -qx i386; then
  dpkg --add-architecture i386
fi
candidate() { apt-cache show --no-all-versions busybox-static:i386 2>/dev/null | sed -n 's/^Version: //p' | head -1; }
want=$(candidate)
if [ -x "$bin" ] && [ -f "$out/VERSION" ] && { [ -z "$want" ] || [ "$(cat "$out/VERSION")" = "$want" ]; }; then
  echo "$bin"; exit 0
fi
# The i386 index must be present; an update may partly fail (a mirror's index of unexpected size): go on.
if [ -z "$want" ]; then
  apt-get update -q >&2 || echo "warning: apt-get update reported errors; continuing" >&2
  want=$(candidate)
  [ -n "$want" ] || { echo "error: busybox-static:i386 is not in the apt index (is the i386 architecture's index reachable?)" >&2; exit 1; }
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
chmod a+rwx "$tmp"   # apt-get download runs as _apt
(cd "$tmp" && apt-get download -q "busybox-static:i386=$want" >&2)
rm -rf "$out"; mkdir -p "$out"
dpkg-deb -x "$tmp"/busybox-static_*_i386.deb "$tmp/x"
install -D -m 0755 "$tmp/x/bin/busybox" "$bin"
magic=$(head -c 4 "$bin" | od -An -tx1 | tr -d ' \n')
[ "$magic" = "7f454c46" ] || { echo "error: $bin is not an ELF file" >&2; exit 1; }
echo "$want" > "$out/VERSION"
echo "$bin"
