#!/usr/bin/env bash
# Builds the install workload's source disks from Debian's linux-source-6.1 tarball: an uncompressed tar of
# part of the kernel tree, written from the first byte of a raw disk image (the guest reads it with
# tar -xf /dev/vdc) and padded to whole MiB. The tars are reproducible (sorted names, fixed owner and time).
#   build-data.sh OUT     writes OUT/install-full.img, OUT/install-short.img and a .txt beside each
#                         ("files=N bytes=N dirs=...")
# full:  fs/ kernel/ mm/ (about 59 MB in about 2,950 files of mixed sizes)
# short: block/ ipc/ init/ kernel/sched/ kernel/time/ (a few MB, for make test)
set -euo pipefail
out=${1:?usage: build-data.sh OUT}
src=/usr/src/linux-source-6.1.tar.xz
[ -f "$src" ] || { echo "error: $src is missing (Debian package: linux-source-6.1)" >&2; exit 1; }
top=linux-source-6.1
full=(fs kernel mm)
short=(block ipc init kernel/sched kernel/time)
tmp=$(mktemp -d "$out/.data.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
# Extract each top-level folder once (GNU tar reports a name inside an earlier one as "Not found").
needed=$(printf '%s\n' "${full[@]}" "${short[@]}" | cut -d/ -f1 | sort -u)
xz -dc "$src" | tar -x -C "$tmp" $(printf "$top/%s " $needed)
make_disk() {          # make_disk NAME DIR...
  local name=$1; shift
  local paths=("${@/#/$top/}")
  tar --sort=name --mtime=2023-01-01 --owner=0 --group=0 --numeric-owner --format=gnu \
      -C "$tmp" -cf "$tmp/$name.img" "${paths[@]}"
  local bytes files
  files=$(cd "$tmp" && find "${paths[@]}" -type f | wc -l)
  bytes=$(cd "$tmp" && find "${paths[@]}" -type f -printf '%s\n' | awk '{ s += $1 } END { print s }')
  truncate -s %1M "$tmp/$name.img"
  echo "files=$files bytes=$bytes dirs=${*}" > "$tmp/$name.txt"
  mv "$tmp/$name.img" "$out/$name.img"
  mv "$tmp/$name.txt" "$out/$name.txt"
}
make_disk install-full "${full[@]}"
make_disk install-short "${short[@]}"
