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

# The newcomer's path, end to end on the shipped model (its 3D picture under xvfb-run when there is no display).
torchseg_log "running the quickstart demo"
"$TORCHSEG_ROOT/scripts/quickstart.sh" "$TORCHSEG_BUILD_DIR/quickstart-output"
