#!/usr/bin/env bash
# Assembles the project's BIOS into firmware/build/bios.bin (not yet written: an empty ROM for now).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$here/build"
head -c 65536 /dev/zero > "$here/build/bios.bin"
