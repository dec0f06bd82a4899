#!/usr/bin/env bash
# Checks the project's BIOS (firmware/build/bios.bin) on QEMU's own i440FX PC, the machine this project's
# PC imitates, so the same checks can later run against bin/emu:
#   probe      a boot disk whose program calls the BIOS services and checks them (tests/probe.asm), with
#              expected values taken from the disk file, the -m size, the host clock and PCI's spec
#   no-disk    no disk at all                          -> one-line message, exit status 3
#   empty      a zeroed disk, and a 0-byte disk        -> "not bootable" / "empty", exit status 7
#   bad-sig    an MBR whose 55AA signature is broken   -> "not bootable", exit status 7
#   read-error a disk whose reads fail (blkdebug EIO)    -> "cannot read the boot sector", exit status 5
#   past-end   SYSLINUX's MBR with its active partition past the end of the disk: the MBR's read fails,
#              it prints its error and calls int 18h    -> "boot failed", exit status 9
#   boot       the bootable disk (MBR, SYSLINUX, kernel, root on /dev/vda2) as QED: up to the shell, a
#              command, poweroff; then `qemu-img check` on the image
# Usage: firmware/tests/qemu-smoke.sh [BOOT_DISK]   (default guest-images/build/boot-disk.qed; the boot
# check fails with a message if it is missing). Prints one line per check and "N passed, M failed".
# Environment: QEMU (default qemu-system-i386), BIOS (default firmware/build/bios.bin), KEEP=1 keeps the
# work folder with the transcripts.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
qemu=${QEMU:-qemu-system-i386}
bios=${BIOS:-$repo/firmware/build/bios.bin}
boot_disk=${1:-$repo/guest-images/build/boot-disk.qed}
work=$(mktemp -d /tmp/fw-smoke.XXXXXX)
[ "${KEEP:-0}" = 1 ] && echo "work folder: $work" || trap 'rm -rf "$work"' EXIT

passed=0 failed=0
pass() { echo "PASS $1"; passed=$((passed + 1)); }
fail() { echo "FAIL $1: $2"; failed=$((failed + 1)); }
need() { command -v "$1" >/dev/null || { echo "qemu-smoke: $1 is missing (Debian package $2)" >&2; exit 2; }; }
need "$qemu" qemu-system-x86
need qemu-img qemu-utils
need nasm nasm
need python3 python3
need sfdisk fdisk
[ -f /usr/lib/syslinux/mbr/mbr.bin ] || { echo "qemu-smoke: /usr/lib/syslinux/mbr/mbr.bin is missing (Debian package syslinux-common)" >&2; exit 2; }
if [ -z "${BIOS:-}" ]; then "$repo/firmware/build.sh" || exit 2; fi
[ -f "$bios" ] || { echo "qemu-smoke: $bios does not exist" >&2; exit 2; }

# run NAME TIMEOUT DRIVE_ARGS [--expect RE [--send TEXT]]...: boots QEMU with the BIOS; sets $status, $log.
run() {
  local name=$1 timeout=$2 drive=$3
  shift 3
  log=$work/$name.log
  # shellcheck disable=SC2086
  python3 "$here/console.py" --log "$log" --timeout "$timeout" "$@" -- \
    "$qemu" -bios "$bios" -nographic -m 128 -no-reboot $drive \
    -device isa-debug-exit,iobase=0x501,iosize=2 > "$work/$name.result"
  status=$?
}
has() { grep -qaE "$1" "$log"; }
value() { grep -aoE "PROBE $1=[^ ]+" "$log" | head -1 | cut -d= -f2 | tr -d '\r'; }

# ---- probe ----------------------------------------------------------------------------------------
nasm -f bin -o "$work/probe.bin" "$here/probe.asm" || exit 2
python3 - "$work/probe.bin" "$work/probe.img" <<'EOF'
import struct, sys
probe = open(sys.argv[1], "rb").read()
sectors, stamp_first = 16384, 64          # 8 MiB; tests/probe.asm's STAMP_FIRST
assert len(probe) <= stamp_first * 512
with open(sys.argv[2], "wb") as f:
    f.write(probe.ljust(stamp_first * 512, b"\0"))
    for lba in range(stamp_first, sectors):
        f.write(struct.pack("<I", lba) + bytes([lba & 0xFF]) * 504 + struct.pack("<I", ~lba & 0xFFFFFFFF))
EOF
date_before=$(date -u +%Y%m%d)
run probe 120 "-drive file=$work/probe.img,format=raw,if=virtio" --expect "PROBE press a key" --send "k"
date_after=$(date -u +%Y%m%d)
if [ "$status" -eq 33 ] && has "PROBE END failures=0"; then pass "probe: every in-guest check passed"
else fail probe "exit status $status, $(grep -a 'PROBE FAIL\|PROBE END' "$log" | tr -d '\r' | tr '\n' ';') ($(cat "$work/probe.result"))"; fi
expect_sectors=$(( $(stat -c %s "$work/probe.img") / 512 ))
[ "$(value disk_sectors)" = "$expect_sectors" ] && pass "probe: EDD reports $expect_sectors sectors" \
  || fail probe "EDD sectors $(value disk_sectors), the file has $expect_sectors"
[ "$(value ram_top)" = "08000000" ] && pass "probe: E820 RAM from 1 MiB ends at 128 MiB (-m 128)" \
  || fail probe "E820 RAM top $(value ram_top), expected 08000000 for -m 128"
rtc=$(value rtc_date)
[ "$rtc" = "$date_before" ] || [ "$rtc" = "$date_after" ] && pass "probe: int 1Ah AH=04h date is today ($rtc)" \
  || fail probe "int 1Ah date $rtc, host UTC date $date_before"
[ "$(value key)" = "256B" ] && pass "probe: int 16h AH=00h read 'k' from the console as 256Bh" \
  || fail probe "int 16h key $(value key), expected 256B (scan 25h, 'k')"
slot=$(grep -aoE "virtio_blk_slot=[0-9]+" "$log" | cut -d= -f2)
irq=$(grep -aoE "virtio_blk_slot=[0-9]+ irq=[0-9]+" "$log" | sed 's/.*irq=//')
if [ -n "$slot" ]; then
  irqs=(10 10 11 11); want=${irqs[$(( (slot + 1 - 2) & 3 ))]}   # PIRQ (slot + INTA - 2) & 3
  [ "$irq" = "$want" ] && pass "probe: virtio-blk in slot $slot has Interrupt Line $irq" \
    || fail probe "virtio-blk in slot $slot has Interrupt Line $irq, expected $want"
else fail probe "the PCI BIOS did not report the virtio-blk slot"; fi
python3 - "$work/probe.img" <<'EOF' && pass "probe: the sector written through int 13h AH=43h is in the image file, neighbours intact" || fail probe "int 13h write not found in the image file"
import struct, sys
f = open(sys.argv[1], "rb"); lba = 64 + 100                 # tests/probe.asm's WRITE_LBA
f.seek(lba * 512); s = f.read(512)
want = bytearray((i * 7) & 0xFF for i in range(512)); want[0:12] = b"EMUWRITE" + struct.pack("<I", lba)
def stamped(n):
    f.seek(n * 512); d = f.read(512)
    return d[:4] == struct.pack("<I", n) and d[508:] == struct.pack("<I", ~n & 0xFFFFFFFF)
sys.exit(0 if s == bytes(want) and stamped(lba - 1) and stamped(lba + 1) else 1)
EOF

# the two ways CMOS gives the memory size: KiB above 1 MiB (below 16 MiB) and 64 KiB blocks above 16 MiB
for m in 15:00F00000 3072:C0000000; do
  mib=${m%:*} top=${m#*:}
  cp "$work/probe.img" "$work/probe-$mib.img"
  log=$work/probe-$mib.log
  python3 "$here/console.py" --log "$log" --timeout 120 --expect "PROBE press a key" --send "k" -- \
    "$qemu" -bios "$bios" -nographic -m "$mib" -no-reboot -drive "file=$work/probe-$mib.img,format=raw,if=virtio" \
    -device isa-debug-exit,iobase=0x501,iosize=2 > "$work/probe-$mib.result"
  status=$?
  [ "$status" -eq 33 ] && has "PROBE END failures=0" && [ "$(value ram_top)" = "$top" ] \
    && pass "probe with -m $mib: every check passed, E820 RAM top $top" \
    || fail "probe -m $mib" "exit status $status, RAM top $(value ram_top) (expected $top), $(grep -a 'PROBE FAIL' "$log" | tr -d '\r' | tr '\n' ';')"
done

# ---- disks that cannot boot ------------------------------------------------------------------------------
run no-disk 60 ""
[ "$status" -eq 3 ] && has "no bootable disk: no virtio-blk disk found" && pass "no disk: message and exit status 3" \
  || fail no-disk "exit status $status, $(tail -2 "$log" | tr -d '\r' | tr '\n' ' ')"

truncate -s 1M "$work/empty.img"
run empty 60 "-drive file=$work/empty.img,format=raw,if=virtio"
[ "$status" -eq 7 ] && has "not bootable \(no 55AA signature" && pass "zeroed disk: not bootable, exit status 7" \
  || fail empty "exit status $status, $(tail -2 "$log" | tr -d '\r' | tr '\n' ' ')"

: > "$work/zero-length.img"
run zero-length 60 "-drive file=$work/zero-length.img,format=raw,if=virtio"
[ "$status" -eq 7 ] && has "is empty \(0 sectors\)" && pass "0-byte disk: empty, exit status 7" \
  || fail zero-length "exit status $status, $(tail -2 "$log" | tr -d '\r' | tr '\n' ' ')"

truncate -s 2M "$work/bad-sig.img"
printf 'label: dos\nstart=2048, type=83, bootable\n' | sfdisk -q "$work/bad-sig.img" >/dev/null
dd if=/usr/lib/syslinux/mbr/mbr.bin of="$work/bad-sig.img" bs=440 count=1 conv=notrunc status=none
printf '\x55\xab' | dd of="$work/bad-sig.img" bs=1 seek=510 conv=notrunc status=none
run bad-sig 60 "-drive file=$work/bad-sig.img,format=raw,if=virtio"
[ "$status" -eq 7 ] && has "not bootable \(no 55AA signature" && pass "broken MBR signature: not bootable, exit status 7" \
  || fail bad-sig "exit status $status, $(tail -2 "$log" | tr -d '\r' | tr '\n' ' ')"

# a disk whose reads fail (QEMU's blkdebug driver injects EIO): the device answers IOERR
truncate -s 1M "$work/read-error.img"
dd if=/usr/lib/syslinux/mbr/mbr.bin of="$work/read-error.img" conv=notrunc status=none
printf '\x55\xaa' | dd of="$work/read-error.img" bs=1 seek=510 conv=notrunc status=none
printf '[inject-error]\nevent = "read_aio"\nerrno = "5"\n' > "$work/read-error.cfg"
run read-error 60 "-drive file=blkdebug:$work/read-error.cfg:$work/read-error.img,format=raw,if=virtio"
[ "$status" -eq 5 ] && has "cannot read the boot sector of disk 80h \(int 13h status 20h\)" \
  && pass "disk whose reads fail: read error (status 20h), exit status 5" \
  || fail read-error "exit status $status, $(tail -2 "$log" | tr -d '\r' | tr '\n' ' ')"

# SYSLINUX's MBR loads the active partition's first sector; this partition table puts it at sector
# 100000 of a 2048-sector disk (written by hand: sfdisk refuses a partition outside the disk).
truncate -s 1M "$work/past-end.img"
dd if=/usr/lib/syslinux/mbr/mbr.bin of="$work/past-end.img" bs=440 count=1 conv=notrunc status=none
python3 - "$work/past-end.img" <<'EOF'
import struct, sys
entry = bytes([0x80, 0xFE, 0xFF, 0xFF, 0x83, 0xFE, 0xFF, 0xFF]) + struct.pack("<II", 100000, 2048)
with open(sys.argv[1], "r+b") as f:
    f.seek(446); f.write(entry); f.seek(510); f.write(b"\x55\xaa")
EOF
run past-end 60 "-drive file=$work/past-end.img,format=raw,if=virtio"
[ "$status" -eq 9 ] && has "Operating system load error" && has "boot failed: the boot loader gave up \(int 18h\)" \
  && pass "boot loader reading past the end: its error, then int 18h, exit status 9" \
  || fail past-end "exit status $status, $(tail -3 "$log" | tr -d '\r' | tr '\n' ' ')"

# ---- the whole chain --------------------------------------------------------------------------------------
if [ ! -f "$boot_disk" ]; then
  fail boot "no boot disk at $boot_disk (build it with 'make guest', or give its path)"
else
  # the run is on a QED copy (a raw disk is converted), which qemu-img check can then examine
  fmt=qed
  case "$boot_disk" in
    *.qed) cp --sparse=always "$boot_disk" "$work/boot.qed" ;;
    *) qemu-img convert -O qed "$boot_disk" "$work/boot.qed" ;;
  esac
  run boot 300 "-drive file=$work/boot.$fmt,format=$fmt,if=virtio" \
    --expect "Run /sbin/init" --expect "# " --send 'echo FW-SMOKE-$((6*7)) $(cat /proc/cmdline)\r' \
    --expect "FW-SMOKE-42" --expect "# " --send 'poweroff\r'
  if [ "$status" -eq 1 ] && has "emu BIOS" && has "SYSLINUX" && has "BIOS-e820: \[mem 0x0000000000100000-0x0000000007ffffff\] usable" \
     && has "EXT4-fs \(vda2\): mounted" && has "FW-SMOKE-42 .*root=/dev/vda2"; then
    pass "boot: BIOS, SYSLINUX, kernel (E820 from int 15h), root on /dev/vda2, shell command, poweroff"
  else
    fail boot "exit status $status ($(cat "$work/boot.result")); transcript: $log"
    [ "${KEEP:-0}" = 1 ] || tail -5 "$log"
  fi
  if check=$(qemu-img check -f "$fmt" "$work/boot.$fmt" 2>&1); then pass "boot: qemu-img check of the image after the run"
  else fail boot "qemu-img check: $(echo "$check" | tail -1)"; fi
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
