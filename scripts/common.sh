# Shared by quickstart.sh and test.sh: install missing Debian 12 packages, configure and build (Release, ccache).
# shellcheck shell=bash

TORCHSEG_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TORCHSEG_BUILD_DIR=${TORCHSEG_BUILD_DIR:-$TORCHSEG_ROOT/build}
TORCHSEG_JOBS=${TORCHSEG_JOBS:-$(nproc)}

# Every dependency comes from Debian 12. libopenblas0-pthread matters: LibTorch's matrix products run about 30x
# faster with it than with the reference BLAS.
TORCHSEG_PACKAGES=(
  cmake ninja-build g++ pkg-config ccache
  libinsighttoolkit5-dev libtorch-dev libopenblas0-pthread libvtk9-dev
  libgdcm-dev libdcmtk-dev libcli11-dev nlohmann-json3-dev libtinyxml2-dev
  libgtest-dev libbenchmark-dev
  libgloo-dev
  xvfb xauth dicom3tools dcm2niix jq
)

# LibTorch's OpenMP threads spin at barriers by default: on a 2-core machine shared with other processes (ctest -j,
# CI) two spinning threads run 4x slower than one. Passive waiting costs nothing measurable on an idle machine.
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}

torchseg_log() { printf '\033[1m[torchseg]\033[0m %s\n' "$*" >&2; }

torchseg_install_packages() {
  local missing=()
  for p in "${TORCHSEG_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -eq 0 ]; then
    torchseg_log "all ${#TORCHSEG_PACKAGES[@]} Debian packages are installed"
    return 0
  fi
  torchseg_log "installing ${missing[*]}"
  local sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { torchseg_log "not root and no sudo: install ${missing[*]} by hand"; return 1; }
    sudo=(sudo)
  fi
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
}

torchseg_build() {
  export CCACHE_DIR=${CCACHE_DIR:-$HOME/.cache/ccache}
  torchseg_log "configuring $TORCHSEG_BUILD_DIR (Release)"
  cmake -S "$TORCHSEG_ROOT" -B "$TORCHSEG_BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
  torchseg_log "building with $TORCHSEG_JOBS jobs"
  cmake --build "$TORCHSEG_BUILD_DIR" -j "$TORCHSEG_JOBS"
}
