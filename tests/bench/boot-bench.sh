#!/usr/bin/env bash
# Boot benchmark: this project's PC (bin/emu) beside qemu-system-i386 (TCG) booting the same kernel and the
# same disks in one run, alternating within each round; medians of REPEAT rounds, printed as ratios (the
# machine is shared and noisy: compare ratios, not lone times). See emulator/README.md, "Boot benchmark".
#   direct, to prompt   -kernel bzImage, root=/dev/vda on rootfs.qed: time to the shell prompt, then poweroff
#   direct, demo        the same boot plus guest.mode=demo's small workload (4 MiB dd, md5sum, sync), to exit
#   disk, project BIOS  boot-disk.qed through -bios bin/bios.bin, MBR, SYSLINUX, root=/dev/vda2: to the prompt
#   disk, SeaBIOS       the same disk through Debian's /usr/share/seabios/bios-256k.bin: to the prompt
# Guest instructions: emu prints its count with EMU_STATS=1. Debian 12's QEMU 7.2 has -plugin but ships no
# plugin (contrib/plugins' libinsn.so is not packaged, nor qemu-plugin.h to build one), and -icount's virtual
# clock also advances while the guest idles, so it is no instruction count: QEMU's column says n/a.
#
#   tests/bench/boot-bench.sh             REPEAT=5 tests/bench/boot-bench.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$(pwd)

EMU=${EMU:-$repo/bin/emu}
QEMU=${QEMU:-qemu-system-i386}
BIOS=${BIOS:-$repo/bin/bios.bin}
SEABIOS=${SEABIOS:-/usr/share/seabios/bios-256k.bin}
REPEAT=${REPEAT:-3}
build=$repo/guest-images/build
for tool in "$EMU" "$QEMU" python3; do
  command -v "$tool" >/dev/null || { echo "boot-bench: '$tool' not found (run 'make build'; QEMU and python3 come from 'make deps')" >&2; exit 1; }
done
for f in "$build/bzImage" "$build/rootfs.qed" "$build/boot-disk.qed" "$BIOS" "$SEABIOS"; do
  [ -f "$f" ] || { echo "boot-bench: $f is missing (make build; ./guest-images/build.sh; Debian package seabios)" >&2; exit 1; }
done
WORK=$(mktemp -d "${TMPDIR:-/tmp}/boot-bench.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

# The console driver: starts the emulator, times the first shell prompt, types poweroff, times the exit.
# Prints "PROMPT_S TOTAL_S STATUS INSTRUCTIONS" (PROMPT_S is - without --prompt; INSTRUCTIONS - unless emu said).
cat > "$WORK/drive.py" <<'EOF'
import os, re, select, subprocess, sys, time
timeout, prompt, cmd = float(sys.argv[1]), sys.argv[2], sys.argv[3:]
env = dict(os.environ, EMU_STATS="1")
t0 = time.monotonic()
p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
out, err, t_prompt = b"", b"", None
streams = [p.stdout, p.stderr]
while streams and time.monotonic() - t0 < timeout:
    ready, _, _ = select.select(streams, [], [], 0.05)
    for s in ready:
        chunk = os.read(s.fileno(), 65536)
        if not chunk:
            streams.remove(s)
        elif s is p.stdout:
            out += chunk
        else:
            err += chunk
    if prompt != "-" and t_prompt is None and re.search(prompt.encode(), out):
        t_prompt = time.monotonic() - t0
        p.stdin.write(b"poweroff\r"); p.stdin.flush()
if p.poll() is None and time.monotonic() - t0 >= timeout:
    p.kill(); p.wait()
    sys.stderr.write("boot-bench: timed out after %ss: %s\n--- last output:\n%s\n" % (timeout, " ".join(cmd), out[-2000:].decode("latin-1")))
    sys.exit(1)
status = p.wait()
total = time.monotonic() - t0
m = re.search(rb"emu: stats: (\d+) guest instructions", err)
if prompt != "-" and t_prompt is None or status != 1:
    sys.stderr.write("boot-bench: no clean run (status %d): %s\n--- last output:\n%s\n%s\n" % (status, " ".join(cmd), out[-2000:].decode("latin-1"), err[-1000:].decode("latin-1")))
    sys.exit(1)
print("%s %.3f %d %s" % ("-" if t_prompt is None else "%.3f" % t_prompt, total, status, m.group(1).decode() if m else "-"))
EOF

PROMPT='guest:[^\r\n#]*# '
qemu_flags=(-accel tcg -cpu pentium3 -nic none -device isa-debug-exit,iobase=0x501,iosize=2)
common=(-m 128 -nographic -no-reboot)
append="console=ttyS0 root=/dev/vda rw panic=-1 guest.mode"

# run SCENARIO EMULATOR: one boot on a fresh copy of the disk; appends "scenario emulator prompt total instr".
run() {
  local scenario=$1 who=$2 prog prompt=$PROMPT disk args=()
  case $who in emu) prog=("$EMU") ;; qemu) prog=("$QEMU" "${qemu_flags[@]}") ;; esac
  case $scenario in
    direct-prompt) disk=rootfs.qed; args=(-kernel "$build/bzImage" -append "$append=shell") ;;
    direct-demo)   disk=rootfs.qed; args=(-kernel "$build/bzImage" -append "$append=demo"); prompt=- ;;
    disk-bios)     disk=boot-disk.qed; args=(-bios "$BIOS") ;;
    disk-seabios)  disk=boot-disk.qed; args=(-bios "$SEABIOS") ;;
  esac
  cp --sparse=always "$build/$disk" "$WORK/disk.qed"
  local line
  line=$(python3 "$WORK/drive.py" 120 "$prompt" "${prog[@]}" "${common[@]}" "${args[@]}" \
         -drive "file=$WORK/disk.qed,format=qed,if=virtio")
  set -- $line
  echo "$scenario $who $1 $2 $4" >> "$WORK/results"
}

scenarios=(direct-prompt direct-demo disk-bios disk-seabios)
echo "boot-bench: $REPEAT rounds of ${#scenarios[@]} scenarios on emu and qemu ($(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg))" >&2
: > "$WORK/results"
for ((r = 1; r <= REPEAT; r++)); do
  for s in "${scenarios[@]}"; do
    if (( r % 2 )); then run "$s" emu; run "$s" qemu; else run "$s" qemu; run "$s" emu; fi
  done
  echo "boot-bench: round $r done" >&2
done

python3 - "$WORK/results" <<'EOF'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
names = {"direct-prompt": "direct kernel, to prompt", "direct-demo": "direct kernel, boot + demo to exit",
         "disk-bios": "disk, project BIOS, to prompt", "disk-seabios": "disk, SeaBIOS, to prompt"}
def med(scen, who, col):
    vals = [float(r[col]) for r in rows if r[0] == scen and r[1] == who and r[col] != "-"]
    return statistics.median(vals) if vals else None
print("| scenario | emu s | qemu s | emu/qemu | emu guest instructions | qemu guest instructions |")
print("|---|---:|---:|---:|---:|---:|")
for scen, name in names.items():
    col = 3 if scen == "direct-demo" else 2
    e, q, n = med(scen, "emu", col), med(scen, "qemu", col), med(scen, "emu", 4)
    if e is None or q is None:
        continue
    print(f"| {name} | {e:.2f} | {q:.2f} | {e / q:.2f}x | {n / 1e6:.0f} M | n/a |")
EOF
