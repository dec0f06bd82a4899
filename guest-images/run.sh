#!/usr/bin/env bash
# The main job: boot the default guest from its QED disk (not yet written).
set -euo pipefail
echo "run: the emulator cannot boot a guest yet"
