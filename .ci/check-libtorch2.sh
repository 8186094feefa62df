#!/usr/bin/env bash
# Our native code builds here against Debian 12's libtorch 1.13, but users with CUDA
# get libtorch 2.x (PyTorch's). Compile every native file (-fsyntax-only) against
# Debian 13's libtorch 2.6 headers, with and without the CUDA-only paths, so an API
# that moved in 2.x fails CI instead of a user's build.
# The headers come from the libtorch-dev package of Debian 13 (trixie), fetched with
# an apt configuration of its own under OUT_DIR: nothing is installed on this machine.
#   bash .ci/check-libtorch2.sh [OUT_DIR]
# When the package cannot be fetched it says SKIPPED and exits 0; a compile error exits 1.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="$(mkdir -p "${1:-build-libtorch2}" && cd "${1:-build-libtorch2}" && pwd)"

apt_dir="$OUT/apt"
mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$OUT/deb"
echo 'deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian trixie main' > "$apt_dir/sources.list"
apt_options=(-o "Dir::Etc::SourceList=$apt_dir/sources.list" -o Dir::Etc::SourceParts=/nonexistent
  -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir/cache" -o Dir::State::status=/dev/null
  -o APT::Sandbox::User=root)
if [ ! -f "$OUT/root/usr/include/ATen/ATen.h" ]; then
  if ! { apt-get "${apt_options[@]}" update -qq && (cd "$OUT/deb" && apt-get "${apt_options[@]}" download -qq libtorch-dev); } > "$OUT/fetch.txt" 2>&1; then
    tail -5 "$OUT/fetch.txt"
    echo "SKIPPED: could not fetch Debian 13's libtorch-dev"
    exit 0
  fi
  dpkg-deb -x "$OUT"/deb/libtorch-dev_*.deb "$OUT/root"
fi
TORCH_INCLUDE="$OUT/root/usr/include"
version_h="$TORCH_INCLUDE/torch/csrc/api/include/torch/version.h"
echo "libtorch headers: $(for part in MAJOR MINOR PATCH; do grep -o "TORCH_VERSION_$part [0-9]*" "$version_h" | grep -o '[0-9]*$'; done | paste -sd.) ($(ls "$OUT"/deb))"

# A CPU build of libtorch lacks this generated header; the CUDA paths only need it to exist.
mkdir -p "$OUT/cuda-stub/c10/cuda/impl"
echo '#define C10_CUDA_BUILD_SHARED_LIBS' > "$OUT/cuda-stub/c10/cuda/impl/cuda_cmake_macros.h"
CUDA_INCLUDE=""
for dir in /usr/local/cuda/include /usr/include; do
  if [ -f "$dir/cuda_runtime_api.h" ]; then CUDA_INCLUDE="$dir"; break; fi
done

flags=(-std=c++17 -fsyntax-only -fopenmp -Wall -Wextra -Wno-unused-parameter -Werror
  -DNAPI_VERSION=8 -DNODE_ADDON_API_DISABLE_DEPRECATED
  -I native -isystem "$TORCH_INCLUDE" -isystem "$TORCH_INCLUDE/torch/csrc/api/include"
  -isystem "$(node -p "require('node-addon-api').include_dir")" -isystem "$(dirname "$(command -v node)")/../include/node")
check() {  # check LABEL FILE [extra flags]
  local label="$1" file="$2"; shift 2
  local log="$OUT/log/$label-$(basename "$file").txt"
  if g++ "${flags[@]}" "$@" "$file" > "$log" 2>&1; then return 0; fi
  echo "FAILED ($label): $file"; head -20 "$log"; return 1
}
mkdir -p "$OUT/log"

failed=0
files=(native/core/*.cpp native/addon/*.cpp benchmarks/gpu/core_check.cpp)
jobs="$(nproc)"
for file in "${files[@]}"; do
  check cpu "$file" &
  while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n || failed=1; done
done
while [ "$(jobs -rp | wc -l)" -gt 0 ]; do wait -n || failed=1; done
echo "checked ${#files[@]} files against libtorch 2 (CPU paths)"

if [ -n "$CUDA_INCLUDE" ]; then
  for file in $(grep -l 'LORA_NODE_WITH_CUDA\|LORA_NODE_CUDA_KERNELS' native/core/*.cpp); do
    check cuda "$file" -DLORA_NODE_WITH_CUDA=1 -DLORA_NODE_CUDA_KERNELS=1 -isystem "$OUT/cuda-stub" -isystem "$CUDA_INCLUDE" || failed=1
  done
  echo "checked the CUDA paths against libtorch 2 (CUDA headers: $CUDA_INCLUDE)"
else
  echo "CUDA paths not checked: no cuda_runtime_api.h on this machine"
fi

if [ "$failed" != 0 ]; then echo "FAILED: native code does not compile against libtorch 2"; exit 1; fi
echo "PASSED: native code compiles against libtorch 2"
