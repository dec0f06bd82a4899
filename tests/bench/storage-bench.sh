#!/usr/bin/env bash
# Storage benchmarks: this project's QED engine (emu-img bench) beside QEMU's (qemu-img bench, qemu-io)
# and beside raw files, on this machine, in one run. Tools alternate within each round and every
# scenario is repeated; the table shows medians and throughput ratios (the machine is shared and noisy,
# so compare ratios, not lone times). See qed/README.md, "Benchmarks".
#
#   tests/bench/storage-bench.sh            (make bench)
#   REPEAT=7 COUNT=100000 tests/bench/storage-bench.sh
set -euo pipefail
cd "$(dirname "$0")/../.."

EMU_IMG=${EMU_IMG:-bin/emu-img}
[ -x "$EMU_IMG" ] || EMU_IMG=qed/EmuImg/bin/Release/net10.0/emu-img
for tool in "$EMU_IMG" qemu-img qemu-io python3 bc; do
  command -v "$tool" >/dev/null || { echo "storage-bench: '$tool' not found (run 'make build'; qemu-utils, python3 and bc come from 'make deps')" >&2; exit 1; }
done
REPEAT=${REPEAT:-5}
COUNT=${COUNT:-50000}             # 4 KiB allocating writes
SEQ_COUNT=${SEQ_COUNT:-10000}     # 64 KiB sequential writes (640 MiB)
RAND_COUNT=${RAND_COUNT:-500000}  # random 4 KiB reads and rewrites (many, so each run lasts long enough to time)
REGION_MB=${REGION_MB:-256}       # allocated region the random scenarios use
WORK=$(mktemp -d "${TMPDIR:-/tmp}/storage-bench.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
RESULTS="$WORK/results.txt"
: > "$RESULTS"

now() { date +%s%N; }
record() { echo "$1 $2 $3" >> "$RESULTS"; }   # scenario tool seconds
# "Run completed in X seconds." from qemu-img bench / emu-img bench
internal_time() { sed -n 's/^Run completed in \([0-9.]*\) seconds\./\1/p'; }
wall() {  # command... ; prints seconds
  # A tool that fails (qemu-io aborting, say) must not pass for a fast one: stop the benchmark.
  local s e rc=0; s=$(now); "$@" >/dev/null || rc=$?; e=$(now)
  [ "$rc" = 0 ] || { echo "storage-bench: '$*' failed with exit status $rc" >&2; exit 1; }
  echo "scale=6; ($e - $s) / 1000000000" | bc
}

# ---- sequential scenarios: each run on a fresh image, timed by the tools themselves ----------------
seq_run() {  # scenario tool size step count
  local scenario=$1 tool=$2 size=$3 step=$4 count=$5 f t
  case $tool in
    emu-qed)  f="$WORK/e.qed"; "$EMU_IMG" create -q -f qed "$f" 8G
              t=$("$EMU_IMG" bench -f qed -w -t writeback -c "$count" -s "$size" -S "$step" "$f" | internal_time) ;;
    qemu-qed) f="$WORK/q.qed"; qemu-img create -q -f qed "$f" 8G
              t=$(qemu-img bench -f qed -w -t writeback -c "$count" -s "$size" -S "$step" "$f" | internal_time) ;;
    qemu-raw) f="$WORK/q.raw"; qemu-img create -q -f raw "$f" 8G
              t=$(qemu-img bench -f raw -w -t writeback -c "$count" -s "$size" -S "$step" "$f" | internal_time) ;;
    emu-raw)  f="$WORK/e.raw"; "$EMU_IMG" create -q -f raw "$f" 8G
              t=$("$EMU_IMG" bench -f raw -w -t writeback -c "$count" -s "$size" -S "$step" "$f" | internal_time) ;;
  esac
  rm -f "$f"
  record "$scenario" "$tool" "$t"
}

# ---- random scenarios: the same random offsets for every tool --------------------------------------
# qemu-img bench has no random mode, so QEMU runs a generated qemu-io script of aio_read/aio_write
# commands at those offsets, and emu-img bench reads the same offsets from a file (--offsets-file).
# Like qemu-img bench and emu-img bench (-d 64, cache=writeback), qemu-io runs with -t writeback (its
# default, writethrough, would fdatasync every write) and at most 64 requests in flight: an aio_flush
# (which only drains, no flush reaches the file) after every 64 commands. Unbounded, qemu-io makes one
# coroutine stack per queued request and aborts ("failed to set up stack guard page").
# Both are timed from outside as wall time of N requests minus wall time of 1 request (process start,
# image open and close, and script parsing of the first command cancel out).
prepare_random() {
  python3 - "$WORK" "$RAND_COUNT" "$REGION_MB" <<'PY'
import random, sys
work, count, region = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]) << 20
rng = random.Random(20250101)
offs = [rng.randrange(region // 4096) * 4096 for _ in range(count)]
for name, n in (("all", count), ("one", 1)):
    with open(f"{work}/offsets-{name}.txt", "w") as f: f.writelines(f"{o}\n" for o in offs[:n])
    with open(f"{work}/read-{name}.qemu-io", "w") as f:
        f.writelines(f"aio_read -q {o} 4k\n" + ("aio_flush\n" if i % 64 == 63 else "") for i, o in enumerate(offs[:n])); f.write("aio_flush\n")
    with open(f"{work}/write-{name}.qemu-io", "w") as f:
        f.writelines(f"aio_write -q -P 0x33 {o} 4k\n" + ("aio_flush\n" if i % 64 == 63 else "") for i, o in enumerate(offs[:n])); f.write("aio_flush\n")
PY
  local chunks=$((REGION_MB * 16))
  "$EMU_IMG" create -q -f qed "$WORK/r.qed" 8G
  "$EMU_IMG" bench -q -f qed -w -c $chunks -s 64k -S 64k --pattern=90 "$WORK/r.qed" >/dev/null
  qemu-img create -q -f qed "$WORK/r-qemu.qed" 8G
  qemu-img bench -q -f qed -w -c $chunks -s 64k -S 64k --pattern=90 "$WORK/r-qemu.qed" >/dev/null
  qemu-img create -q -f raw "$WORK/r.raw" 8G
  qemu-img bench -q -f raw -w -c $chunks -s 64k -S 64k --pattern=90 "$WORK/r.raw" >/dev/null
  # Let the prefill reach the disk and warm the page cache the same way for every file, so the first
  # round does not pay for another tool's write-back.
  sync
  for f in r.qed r-qemu.qed r.raw; do cat "$WORK/$f" > /dev/null; done
}

rand_run() {  # scenario(read|write) tool
  local kind=$1 tool=$2 w=() full one out s e fmt img
  [ "$kind" = write ] && w=(-w --pattern=51)
  case $tool in
    emu-qed|emu-raw)
      fmt=${tool#emu-}; img="$WORK/r.$fmt"
      s=$(now); out=$("$EMU_IMG" bench -f "$fmt" "${w[@]}" -c "$RAND_COUNT" -s 4k --offsets-file="$WORK/offsets-all.txt" "$img"); e=$(now)
      full=$(echo "scale=6; ($e - $s) / 1000000000" | bc)
      one=$(wall "$EMU_IMG" bench -q -f "$fmt" "${w[@]}" -c 1 -s 4k --offsets-file="$WORK/offsets-one.txt" "$img")
      # emu-img's own timer too: the same tool on QED and on raw, without process start and close.
      record "rand-$kind-own" "$tool" "$(echo "$out" | internal_time)" ;;
    qemu-qed) full=$(wall sh -c "qemu-io -t writeback -f qed '$WORK/r-qemu.qed' < '$WORK/$kind-all.qemu-io'")
              one=$(wall sh -c "qemu-io -t writeback -f qed '$WORK/r-qemu.qed' < '$WORK/$kind-one.qemu-io'") ;;
    qemu-raw) full=$(wall sh -c "qemu-io -t writeback -f raw '$WORK/r.raw' < '$WORK/$kind-all.qemu-io'")
              one=$(wall sh -c "qemu-io -t writeback -f raw '$WORK/r.raw' < '$WORK/$kind-one.qemu-io'") ;;
  esac
  record "rand-$kind" "$tool" "$(echo "scale=6; $full - $one" | bc)"
}

echo "storage-bench: $EMU_IMG vs $(qemu-img --version | head -1); $REPEAT rounds; work dir $WORK"
TOOLS=(emu-qed qemu-qed qemu-raw emu-raw)
for ((r = 1; r <= REPEAT; r++)); do
  # Alternate the order each round so drifting load does not favour one tool.
  if ((r % 2)); then order=("${TOOLS[@]}"); else order=(emu-raw qemu-raw qemu-qed emu-qed); fi
  for t in "${order[@]}"; do seq_run alloc-4k "$t" 4096 65536 "$COUNT"; done
  for t in "${order[@]}"; do seq_run seq-64k "$t" 65536 65536 "$SEQ_COUNT"; done
  echo "  round $r/$REPEAT: sequential scenarios done"
done
prepare_random
for ((r = 1; r <= REPEAT; r++)); do
  if ((r % 2)); then order=("${TOOLS[@]}"); else order=(emu-raw qemu-raw qemu-qed emu-qed); fi
  for t in "${order[@]}"; do rand_run read "$t"; done
  for t in "${order[@]}"; do rand_run write "$t"; done
  echo "  round $r/$REPEAT: random scenarios done"
done

python3 - "$RESULTS" "$COUNT" "$SEQ_COUNT" "$RAND_COUNT" <<'PY'
import statistics, sys
from collections import defaultdict
runs = defaultdict(list)
for line in open(sys.argv[1]):
    scenario, tool, secs = line.split()
    runs[(scenario, tool)].append(float(secs))
count, seq, rand = sys.argv[2], sys.argv[3], sys.argv[4]
desc = {
    "alloc-4k": f"{count} x 4 KiB writes, 64 KiB apart, fresh image (each allocates)",
    "seq-64k": f"{seq} x 64 KiB sequential writes, fresh image",
    "rand-read": f"{rand} x 4 KiB random reads of allocated data",
    "rand-write": f"{rand} x 4 KiB random rewrites of allocated data",
}
target = {"alloc-4k": (5.0, 1 / 1.5), "seq-64k": (None, 1 / 1.5), "rand-read": (None, 1 / 1.2), "rand-write": (None, 1 / 1.2)}
tools = ("emu-qed", "qemu-qed", "qemu-raw", "emu-raw")
print()
print("Median seconds (lower is better) and throughput ratios of this engine's QED (higher is better):")
print()
print("| scenario | emu-img qed | qemu qed | qemu raw | emu-img raw | vs QEMU QED | vs QEMU raw | vs own raw |")
print("|---|---|---|---|---|---|---|---|")
verdicts, spread = [], []
for s in desc:
    med = {t: statistics.median(runs[(s, t)]) for t in tools}
    r_qed = med["qemu-qed"] / med["emu-qed"]
    r_qraw = med["qemu-raw"] / med["emu-qed"]
    r_eraw = med["emu-raw"] / med["emu-qed"]
    own = (s + "-own", "emu-qed") in runs
    if own:
        # The same tool on both files: emu-img's own timer, which leaves out process start and close.
        r_eraw = statistics.median(runs[(s + "-own", "emu-raw")]) / statistics.median(runs[(s + "-own", "emu-qed")])
    print(f"| {s} | {med['emu-qed']:.3f} | {med['qemu-qed']:.3f} | {med['qemu-raw']:.3f} | {med['emu-raw']:.3f} "
          f"| {r_qed:.2f}x | {r_qraw:.2f}x | {r_eraw:.2f}x |")
    spread.append(f"  {s}: " + "; ".join(f"{t} " + " ".join(f"{x:.3f}" for x in runs[(s, t)]) for t in tools))
    if own:
        spread.append(f"  {s}, emu-img's own timer: " + "; ".join(
            f"{t} " + " ".join(f"{x:.3f}" for x in runs[(s + '-own', t)]) for t in ("emu-qed", "emu-raw")))
    want_qed, want_raw = target[s]
    best_raw = min(r_qraw, r_eraw)
    v = []
    if want_qed: v.append(f"{'met' if r_qed >= want_qed else 'MISSED'}: >= {want_qed:.0f}x QEMU's QED")
    v.append(f"{'met' if best_raw >= want_raw else 'MISSED'}: within {1 / want_raw:.1f}x of raw "
             f"(QED takes {1 / best_raw:.2f}x the time of the faster raw run)")
    verdicts.append(f"  {s}: {desc[s]}: " + "; ".join(v))
print()
print("Ratios are (other's time / this engine's QED time): 2.00x means this engine did the work in half the time.")
print("vs QEMU raw: qemu-img bench (or qemu-io) on a raw file; vs own raw: emu-img bench on a raw file (same driver as ours).")
print("Random rows: the seconds are wall time of N requests minus that of 1 request for every tool; 'vs own raw'")
print("uses emu-img's own timer for both files instead (the same tool, so nothing needs cancelling).")
print("Targets:")
print("\n".join(verdicts))
print("Every run, in seconds, in the order run:")
print("\n".join(spread))
PY
