#!/usr/bin/env bash
# Builds the guest images from Debian packages and caches them under guest-images/build/.
#   guest-images/build.sh            build what is missing or out of date (the Makefile's cached build)
#   guest-images/build.sh --force    rebuild everything (make guest)
# Outputs (stable paths, see README.md): build/bzImage, build/rootfs.{img,qed}, build/boot-disk.{img,qed}.
# Three cache keys, each a hash of that stage's inputs, kept in build/*.key:
#   kernel  build-kernel.sh, kernel/guest.config, the linux-source-6.1 and gcc versions
#   disks   the kernel key, this script, rootfs/, boot-disk/, busybox and the disk tools' package versions
#   qed     the disks key and the image tool (its command and the bytes of its files)
# Environment: EMU_IMG (default bin/emu-img) converts raw to QED; GUEST_KERNEL_JOBS (default 2).
set -euo pipefail
trap 'echo "error: guest-images/build.sh stopped: line $LINENO: $BASH_COMMAND (status $?)" >&2' ERR
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
out="$here/build"
force=0
for arg; do
  case "$arg" in
    --force) force=1 ;;
    -h|--help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "error: unknown argument '$arg' (usage: build.sh [--force])" >&2; exit 2 ;;
  esac
done
emu_img=${EMU_IMG:-$repo/bin/emu-img}

die() { echo "error: $*" >&2; exit 1; }
need() { command -v "$1" >/dev/null || die "'$1' is missing (Debian package: $2); run 'make deps' or apt-get install $2"; }
need mke2fs e2fsprogs; need sfdisk fdisk; need mkfs.fat dosfstools; need mcopy mtools; need syslinux syslinux
need sha256sum coreutils
mbr_bin=/usr/lib/syslinux/mbr/mbr.bin
[ -f "$mbr_bin" ] || die "$mbr_bin is missing (Debian package: syslinux-common)"
type -P "$emu_img" >/dev/null || die "image tool '$emu_img' not found: run 'make build' first, or set EMU_IMG (e.g. EMU_IMG=qemu-img)"

mkdir -p "$out"
[ "$force" = 0 ] || find "$out" -mindepth 1 -maxdepth 1 -exec rm -rf {} +

pkgver() { dpkg-query -W -f='${Package}=${Version} ' "$@" 2>/dev/null || true; }
hash_files() { (cd "$1" && find . -type f -o -type l | LC_ALL=C sort | while read -r f; do
  if [ -L "$f" ]; then echo "$f -> $(readlink "$f")"; else echo "$f $(stat -c %a "$f") $(sha256sum < "$f")"; fi
done); }
key_of() { sha256sum | cut -c1-64; }
fresh() {              # fresh NAME KEY FILE...: NAME.key holds KEY and every FILE exists
  local name=$1 key=$2; shift 2
  [ -f "$out/$name.key" ] && [ "$(cat "$out/$name.key")" = "$key" ] || return 1
  local f; for f; do [ -f "$out/$f" ] || return 1; done
}

busybox=$("$here/fetch-busybox.sh")

# ---- kernel ---------------------------------------------------------------------------------------------
kernel_key=$({ sha256sum "$here/build-kernel.sh" "$here/kernel/guest.config" | cut -c1-64
               pkgver linux-source-6.1; gcc --version | head -1; } | key_of)
if fresh kernel "$kernel_key" bzImage; then
  echo "guest-images: kernel is up to date"
else
  rm -f "$out/kernel.key"
  start=$SECONDS
  "$here/build-kernel.sh" "$out"
  echo "$kernel_key" > "$out/kernel.key"
  echo "guest-images: kernel built in $((SECONDS - start)) s"
fi

# ---- raw disks: rootfs.img and boot-disk.img ------------------------------------------------------------
disks_key=$({ echo "$kernel_key"; sha256sum "$0" "$busybox" | cut -c1-64; cat "$out/busybox-i386/VERSION"
              hash_files "$here/rootfs"; hash_files "$here/boot-disk"; hash_files "$here/workloads"; nasm -v
              pkgver e2fsprogs fdisk dosfstools mtools syslinux syslinux-common; } | key_of)
rootfs_mib=128          # rootfs.img: the whole disk is one ext4 filesystem (root=/dev/vda)
disk_mib=128            # boot-disk.img: MBR, partition 1 FAT (boot), partition 2 ext4 (root=/dev/vda2)
fat_start=2048; fat_sectors=32768
root_start=$((fat_start + fat_sectors)); root_sectors=$((disk_mib * 2048 - root_start))

make_rootfs_tree() {    # $1: an empty staging folder
  local root=$1
  mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,dev,proc,sys,tmp,root,etc,mnt,var/log}
  chmod 1777 "$root/tmp"; chmod 0700 "$root/root"
  install -m 0755 "$busybox" "$root/bin/busybox"
  # Every applet as a symlink to /bin/busybox (the list comes from this busybox; the host runs i386 code).
  local applets
  applets=$("$busybox" --list-full) || die "cannot run the i386 busybox on this host to list its applets (needs i386 executable support in the host kernel)"
  for a in $applets; do
    [ "$a" = bin/busybox ] && continue
    mkdir -p "$root/$(dirname "$a")"
    ln -sf /bin/busybox "$root/$a"
  done
  # The project's own files override applets of the same name (poweroff, reboot, init).
  cp -a --remove-destination "$here/rootfs/." "$root/"
  "$here/workloads/install.sh" "$root"          # the storage workloads (guest.mode=workload)
  ln -sf poweroff "$root/sbin/halt"
  ln -sf /proc/mounts "$root/etc/mtab"
}

if fresh disks "$disks_key" rootfs.img boot-disk.img; then
  echo "guest-images: raw disks are up to date"
else
  rm -f "$out/disks.key" "$out/qed.key"
  tmp=$(mktemp -d "$out/.disks.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  make_rootfs_tree "$tmp/root"
  # ext4 filled from the folder by mke2fs -d: nothing is mounted. Root-owned whatever the builder is.
  mke2fs -q -t ext4 -L guest-root -E root_owner=0:0 -d "$tmp/root" "$tmp/rootfs.img" "${rootfs_mib}M" >/dev/null

  # The self-booting disk (guest-recipe.md, "A disk that boots by itself").
  truncate -s "${disk_mib}M" "$tmp/boot-disk.img"
  sfdisk -q "$tmp/boot-disk.img" <<SFDISK
label: dos
start=$fat_start, size=$fat_sectors, type=c, bootable
start=$root_start, size=$root_sectors, type=83
SFDISK
  mkfs.fat -n GUESTBOOT -C "$tmp/boot.fat" $((fat_sectors / 2)) >/dev/null
  mcopy -i "$tmp/boot.fat" "$out/bzImage" ::bzimage
  mcopy -i "$tmp/boot.fat" "$here/boot-disk/syslinux.cfg" ::syslinux.cfg
  syslinux --install "$tmp/boot.fat"
  mke2fs -q -t ext4 -L guest-root -E root_owner=0:0 -d "$tmp/root" "$tmp/root.ext4" $((root_sectors / 2))k >/dev/null
  dd if="$tmp/boot.fat" of="$tmp/boot-disk.img" bs=512 seek=$fat_start conv=notrunc status=none
  dd if="$tmp/root.ext4" of="$tmp/boot-disk.img" bs=512 seek=$root_start conv=notrunc status=none
  dd if="$mbr_bin" of="$tmp/boot-disk.img" bs=440 count=1 conv=notrunc status=none

  mv "$tmp/rootfs.img" "$out/rootfs.img"
  mv "$tmp/boot-disk.img" "$out/boot-disk.img"
  echo "$disks_key" > "$out/disks.key"
  rm -rf "$tmp"; trap - EXIT
  echo "guest-images: built rootfs.img (${rootfs_mib} MiB ext4) and boot-disk.img (${disk_mib} MiB, MBR + SYSLINUX)"
fi

# ---- QED conversions, by the project's image tool --------------------------------------------------------
# A .NET tool's code is in the .dll files beside its launcher: hash those too.
tool=$(readlink -f "$(type -P "$emu_img")")
tool_files=("$tool")
for dll in "$(dirname "$tool")"/*.dll; do [ -f "$dll" ] && tool_files+=("$dll"); done
qed_key=$({ echo "$disks_key $emu_img"; cat "${tool_files[@]}" | sha256sum; } | key_of)
if fresh qed "$qed_key" rootfs.qed boot-disk.qed; then
  echo "guest-images: QED images are up to date"
else
  rm -f "$out/qed.key"
  for name in rootfs boot-disk; do
    rm -f "$out/$name.qed.tmp"
    "$emu_img" convert -f raw -O qed "$out/$name.img" "$out/$name.qed.tmp" \
      || die "'$emu_img convert -f raw -O qed' failed on $out/$name.img"
    mv "$out/$name.qed.tmp" "$out/$name.qed"
  done
  echo "$qed_key" > "$out/qed.key"
  echo "guest-images: converted to QED with $emu_img"
fi
# ---- the install workload's source disks (parts of the Linux source tree as tars) ------------------------
data_key=$({ sha256sum "$here/workloads/build-data.sh" | cut -c1-64; pkgver linux-source-6.1 tar xz-utils; } | key_of)
if fresh data "$data_key" install-full.img install-short.img; then
  echo "guest-images: workload data disks are up to date"
else
  rm -f "$out/data.key"
  "$here/workloads/build-data.sh" "$out"
  echo "$data_key" > "$out/data.key"
  echo "guest-images: built install-full.img ($(cat "$out/install-full.txt")) and install-short.img"
fi
echo "guest-images: $out/{bzImage,rootfs.img,rootfs.qed,boot-disk.img,boot-disk.qed,install-full.img,install-short.img}"
