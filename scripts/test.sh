#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test (under a virtual X display, for the rendering tests).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

torchseg_install_packages
torchseg_build -DBUILD_TESTING=ON
torchseg_log "running the tests"
cd "$TORCHSEG_BUILD_DIR"
xvfb-run -a -s "-screen 0 1280x1024x24 -noreset" \
  ctest -j "$TORCHSEG_JOBS" --output-on-failure --timeout 900 "$@"
