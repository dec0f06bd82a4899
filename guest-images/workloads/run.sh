#!/bin/sh
# Runs one named storage workload in the guest and prints its own timings, then returns to init, which
# powers off. Called by /sbin/init for guest.mode=workload; reads from the kernel command line:
#   guest.workload=NAME   install | seqio | randwrite | fsync
#   guest.wlarg=N         the workload's size (defaults below)
# Disks: /dev/vdb is the target (a fresh ext4, made by the host), /dev/vdc the read-only source data
# (an uncompressed tar of part of the Linux source tree, for install).
#   install            unpack the tar from /dev/vdc onto the ext4 on /dev/vdb, then sync
#   seqio [MiB=64]     dd a file of MiB onto the ext4 with conv=fsync, drop the page cache, dd it back
#   randwrite [N=2000] N writes of 4 KiB with O_DIRECT at random offsets of the whole /dev/vdb (fixed seed),
#                      then fsync; this overwrites the filesystem
#   fsync [N=200]      N new 4 KiB files on the ext4, each written and fsync'd
# Output, one line each, for the host to parse (times in seconds of guest CLOCK_MONOTONIC):
#   WORKLOAD-BEGIN NAME ARG
#   WORKLOAD-TIME NAME PHASE SECONDS
#   WORKLOAD-INFO NAME KEY VALUE
#   WORKLOAD-END NAME STATUS TOTAL_SECONDS
here=/usr/lib/workloads
name= arg=
for word in $(cat /proc/cmdline); do
  case "$word" in
    guest.workload=*) name=${word#guest.workload=} ;;
    guest.wlarg=*) arg=${word#guest.wlarg=} ;;
  esac
done

now() { "$here/iowl" now; }
seconds() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.6f", b - a }'; }
phase() { echo "WORKLOAD-TIME $name $1 $(seconds "$2" "$3")"; }
info() { echo "WORKLOAD-INFO $name $1 $2"; }
target=/mnt/target
mount_target() { mkdir -p "$target" && mount -t ext4 /dev/vdb "$target"; }

install() {
  mount_target || return 1
  t0=$(now)
  tar -xf /dev/vdc -C "$target" || return 1
  t1=$(now)
  sync
  t2=$(now)
  phase extract "$t0" "$t1"
  phase sync "$t1" "$t2"
  info files "$(find "$target" -type f | wc -l)"
  info kib "$(du -sk "$target" | cut -f1)"
  umount "$target"
}

seqio() {
  mib=${arg:-64}
  mount_target || return 1
  t0=$(now)
  dd if=/dev/zero of="$target/seq.bin" bs=1M count="$mib" conv=fsync 2>/dev/null || return 1
  t1=$(now)
  echo 3 > /proc/sys/vm/drop_caches
  t2=$(now)
  dd if="$target/seq.bin" of=/dev/null bs=1M 2>/dev/null || return 1
  t3=$(now)
  phase write "$t0" "$t1"
  phase read "$t2" "$t3"
  info mib "$mib"
  umount "$target"
}

randwrite() {
  count=${arg:-2000}
  span=$(( $(cat /sys/block/vdb/size) / 2048 ))
  t0=$(now)
  "$here/iowl" randwrite /dev/vdb "$count" "$span" 1 || return 1
  t1=$(now)
  phase write "$t0" "$t1"
  info writes "$count"
  info span_mib "$span"
}

fsync() {
  count=${arg:-200}
  mount_target || return 1
  mkdir -p "$target/fsync"
  t0=$(now)
  "$here/iowl" fsync "$target/fsync" "$count" || return 1
  t1=$(now)
  phase files "$t0" "$t1"
  info files "$count"
  umount "$target"
}

case "$name" in
  install|seqio|randwrite|fsync) ;;
  *) echo "WORKLOAD-END ${name:-none} unknown-workload 0"
     echo "workload: unknown guest.workload '$name' (known: install, seqio, randwrite, fsync)" >&2
     exit 2 ;;
esac
echo "WORKLOAD-BEGIN $name ${arg:-default}"
start=$(now)
"$name"
status=$?
echo "WORKLOAD-END $name $status $(seconds "$start" "$(now)")"
exit $status
