#!/usr/bin/env bash
# Puts the workloads into a guest root filesystem tree (called by guest-images/build.sh while it builds
# the tree): /usr/lib/workloads/run.sh and the iowl helper, assembled here with nasm.
#   install.sh ROOT
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=${1:?usage: install.sh ROOT}
command -v nasm >/dev/null || { echo "error: 'nasm' is missing (Debian package: nasm)" >&2; exit 1; }
command -v ld >/dev/null || { echo "error: 'ld' is missing (Debian package: binutils)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
nasm -f elf32 -o "$tmp/iowl.o" "$here/iowl.asm"
ld -m elf_i386 -s -o "$tmp/iowl" "$tmp/iowl.o"
mkdir -p "$root/usr/lib/workloads"
install -m 0755 "$tmp/iowl" "$root/usr/lib/workloads/iowl"
install -m 0755 "$here/run.sh" "$root/usr/lib/workloads/run.sh"
