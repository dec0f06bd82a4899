#!/usr/bin/env bash
# Assembles the project's BIOS (firmware/src/*.asm, nasm) into firmware/build/bios.bin: a 64 KiB image
# whose last 16 bytes hold the reset vector. Also writes a listing, firmware/build/bios.lst.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
if ! command -v nasm >/dev/null; then
  echo "firmware/build.sh: nasm is not installed (Debian package nasm; 'make deps' installs it)" >&2
  exit 1
fi
mkdir -p "$here/build"
nasm -f bin -w+all -I "$here/src/" -o "$here/build/bios.bin.tmp" -l "$here/build/bios.lst" "$here/src/bios.asm"
size=$(stat -c %s "$here/build/bios.bin.tmp")
if [ "$size" -ne 65536 ]; then
  echo "firmware/build.sh: bios.bin is $size bytes, expected 65536" >&2
  exit 1
fi
mv "$here/build/bios.bin.tmp" "$here/build/bios.bin"
