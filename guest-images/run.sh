#!/usr/bin/env bash
# The main job (make run): boots the default guest, build/bzImage with its root filesystem on a virtio disk
# (build/rootfs.qed, root=/dev/vda), with the project's emulator bin/emu and qemu-system-i386's flags.
#   stdin and stdout a terminal  -> guest.mode=shell: an interactive shell; `poweroff` ends the run
#                                   (Ctrl-A x quits the emulator at once)
#   otherwise                    -> guest.mode=demo: a short scripted session, then the guest powers off
# The guest boots from a fresh copy, build/rootfs-run.qed, so the cached image stays pristine.
# Environment: EMU (default bin/emu; EMU=qemu-system-i386 runs the same guest under QEMU, with the QEMU-only
# flags it needs added), GUEST_MODE (shell or demo, overrides the choice above). Extra arguments are passed
# to the emulator.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
build="$here/build"
emu=${EMU:-$repo/bin/emu}

die() { echo "run: error: $*" >&2; exit 1; }
for f in bzImage rootfs.qed; do
  [ -f "$build/$f" ] || die "$build/$f is missing: build the guest with ./guest-images/build.sh (make run does it)"
done
command -v "$emu" >/dev/null || die "emulator '$emu' not found: run 'make build', or set EMU (e.g. EMU=qemu-system-i386)"

if [ -n "${GUEST_MODE:-}" ]; then mode=$GUEST_MODE
elif [ -t 0 ] && [ -t 1 ]; then mode=shell
else mode=demo; fi
case "$mode" in shell|demo) ;; *) die "GUEST_MODE must be shell or demo, not '$mode'" ;; esac

disk="$build/rootfs-run.qed"
cp --sparse=always "$build/rootfs.qed" "$disk"

args=(-m 128 -nographic -no-reboot
      -kernel "$build/bzImage"
      -append "console=ttyS0 root=/dev/vda rw panic=-1 guest.mode=$mode"
      -drive "file=$disk,format=qed,if=virtio")
case "$(basename "$emu")" in
  # QEMU's PC needs the guest's CPU model and the debug-exit port the guest's poweroff writes (this
  # project's PC has both built in); no NIC, as on this project's PC (QEMU's default one adds iPXE).
  qemu-system-*) args=(-accel tcg -cpu pentium3 -nic none -device isa-debug-exit,iobase=0x501,iosize=2 "${args[@]}") ;;
esac

echo "run: booting the guest with $(basename "$emu") (mode $mode) from $disk" >&2
[ "$mode" = shell ] && echo "run: type 'poweroff' to end the run; Ctrl-A x quits the emulator" >&2
log="$build/run-console.log"
set +e
if [ "$mode" = demo ]; then
  "$emu" "${args[@]}" "$@" | tee "$log"
  status=${PIPESTATUS[0]}
else
  "$emu" "${args[@]}" "$@"
  status=$?
fi
set -e

# The guest's poweroff writes 0 to the debug-exit port: the emulator exits with (0 << 1) | 1 = 1.
# A reset (reboot) with -no-reboot ends the run with 0.
case "$status" in
  0) echo "run: the guest reset the machine; the run ended" >&2; exit 0 ;;
  1) if [ "$mode" = demo ] && ! grep -q "GUEST-POWEROFF: value 0" "$log"; then
       die "the emulator failed (status 1) before the guest powered off; console output is in $log"
     fi
     echo "run: the guest powered off" >&2; exit 0 ;;
  *) die "the emulator ended with status $status" ;;
esac
