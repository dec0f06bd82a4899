#!/usr/bin/env bash
# Builds the guest kernel: linux-source-6.1 (Debian) for i386, tinyconfig + kernel/guest.config, no modules.
#   build-kernel.sh OUT_DIR     -> OUT_DIR/bzImage, vmlinux, System.map, kernel.config (the full .config)
# Called by build.sh, which decides when a rebuild is due.
set -euo pipefail
trap 'echo "error: guest-images/build-kernel.sh stopped: line $LINENO: $BASH_COMMAND (status $?)" >&2' ERR
here=$(cd "$(dirname "$0")" && pwd)
out=$(mkdir -p "$1" && cd "$1" && pwd)
tarball=/usr/src/linux-source-6.1.tar.xz
fragment="$here/kernel/guest.config"
jobs=${GUEST_KERNEL_JOBS:-2}

[ -f "$tarball" ] || { echo "error: $tarball is missing: apt-get install linux-source-6.1" >&2; exit 1; }
for tool in gcc make flex bison bc perl lz4; do
  command -v "$tool" >/dev/null || { echo "error: '$tool' is needed to build the kernel (Debian package: $tool); run 'make deps' or apt-get install it" >&2; exit 1; }
done

src="$out/linux-src"
obj="$out/linux-obj"
rm -rf "$src" "$obj"
mkdir -p "$src" "$obj"
echo "kernel: unpacking $tarball" >&2
tar -xJf "$tarball" -C "$src" --strip-components=1

kmake() { make -C "$src" O="$obj" ARCH=i386 -s "$@"; }
kmake tinyconfig >/dev/null
(cd "$src" && KCONFIG_CONFIG="$obj/.config" ./scripts/kconfig/merge_config.sh -m -O "$obj" "$obj/.config" "$fragment" >/dev/null)
kmake olddefconfig >/dev/null

# Every line of the fragment must have survived olddefconfig (a dependency may have dropped it).
missing=0
while IFS= read -r line; do
  case "$line" in
    CONFIG_*=*)        want="$line" ;;
    "# CONFIG_"*" is not set") want="$line" ;;
    *) continue ;;
  esac
  sym=${want#\# }; sym=${sym%%[= ]*}
  have=$(grep -E "^($sym=|# $sym is not set)" "$obj/.config" || echo "# $sym is not set")
  if [ "$have" != "$want" ]; then echo "error: kernel option '$want' ended as '$have'" >&2; missing=1; fi
done < "$fragment"
[ "$missing" = 0 ] || exit 1

echo "kernel: building bzImage with -j$jobs" >&2
kmake -j"$jobs" bzImage
version=$(make -C "$src" -s kernelversion)
# vmlinux and System.map are kept for debugging the emulator (symbols of the kernel it runs).
cp "$obj/arch/x86/boot/bzImage" "$out/bzImage"
cp "$obj/vmlinux" "$out/vmlinux"
cp "$obj/System.map" "$out/System.map"
cp "$obj/.config" "$out/kernel.config"
rm -rf "$src" "$obj"
echo "kernel: $version, bzImage $(stat -c %s "$out/bzImage") bytes" >&2
