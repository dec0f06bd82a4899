# One Makefile does all set-up on a fresh Debian 12 machine (as root):
#   make run    build everything needed and boot the default guest from its QED disk
#   make test   install what the tests need, build, run every test; ends with "N passed, M failed"
# Other targets: build (executables into bin/), guest (rebuild the guest images), bench (storage
# benchmarks beside qemu-img bench), clean.

SHELL := /bin/bash
.ONESHELL:
.SHELLFLAGS := -eu -o pipefail -c
.SILENT:

CONFIG      ?= Release
DOTNET      ?= dotnet
BIN         := bin
TOOLS       := qed/EmuImg/EmuImg.csproj qed/EmuIo/EmuIo.csproj emulator/Emu/Emu.csproj
export DOTNET_CLI_TELEMETRY_OPTOUT := 1
export DOTNET_NOLOGO := 1
export DOTNET_SKIP_FIRST_TIME_EXPERIENCE := 1

# Debian packages the build, the guest and the tests use (peers: qemu-img/qemu-io, qemu-system-i386, e2fsprogs).
APT_PACKAGES := qemu-utils qemu-system-x86 e2fsprogs linux-source-6.1 flex bison libelf-dev bc cpio xz-utils \
                gcc make lz4 nasm seabios syslinux syslinux-common mtools dosfstools fdisk python3

.PHONY: all deps build firmware run test guest guest-cached bench clean

all: build

# ---- set-up ---------------------------------------------------------------------------------------------
deps:
	missing=""
	for p in $(APT_PACKAGES); do
	  dpkg-query -W -f='$${Status}' "$$p" 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"
	done
	if [ -n "$$missing" ]; then
	  echo "installing Debian packages:$$missing"
	  apt-get update -q || echo "warning: apt-get update reported errors; continuing with the indexes it has"
	  apt-get install -y -q --no-install-recommends $$missing
	fi
	if ! command -v $(DOTNET) >/dev/null; then ./.ci/install-dotnet; fi
	$(DOTNET) restore Emulator.sln -v quiet

# ---- build ----------------------------------------------------------------------------------------------
build: deps
	$(DOTNET) build Emulator.sln -c $(CONFIG) -v quiet -nologo -clp:NoSummary
	mkdir -p $(BIN)
	for t in $(TOOLS); do $(DOTNET) publish "$$t" -c $(CONFIG) -o $(BIN) --no-restore -v quiet -nologo; done
	./firmware/build.sh
	cp firmware/build/bios.bin $(BIN)/bios.bin
	echo "executables are in $(BIN)/: $$(cd $(BIN) && ls emu* | grep -v '\.' | tr '\n' ' ')"

# The project's BIOS, assembled with nasm from firmware/ (bin/bios.bin is what emu loads by default).
firmware: deps
	./firmware/build.sh

# ---- guest images (built from Debian packages, cached under guest-images/build/) -----------------------
guest-cached: deps build
	./guest-images/build.sh

guest: deps build
	./guest-images/build.sh --force

# ---- the main job ---------------------------------------------------------------------------------------
run: guest-cached
	./guest-images/run.sh

# ---- tests ----------------------------------------------------------------------------------------------
test: guest-cached
	./tests/run-all.sh $(CONFIG)

bench: deps build
	./tests/bench/storage-bench.sh

clean:
	rm -rf $(BIN) tests/.results
	find . -name bin -o -name obj | grep -E '/(qed|emulator|tests)/' | xargs rm -rf
