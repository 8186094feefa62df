#!/usr/bin/env bash
# Our native code builds here against Debian 12's libtorch 1.13, but users with CUDA
# get libtorch 2.x (PyTorch's). Compile every native file (-fsyntax-only, -Werror)
# against the libtorch-dev headers of two later Debian releases, with and without
# the CUDA-only paths, so an API that moved in 2.x fails CI instead of a user's build:
#   - Debian 13 (trixie, stable): libtorch 2.6, C++17;
#   - Debian unstable: libtorch 2.14.1, which requires C++20 (CMakeLists.txt switches).
#     Pinned: unstable moves, and a new libtorch there should not turn CI red unseen.
# The packages are fetched with an apt configuration of its own under OUT_DIR;
# nothing is installed on this machine.
#   bash .ci/check-libtorch2.sh [OUT_DIR]
# A release whose package cannot be fetched (unstable drops old versions) is SKIPPED;
# a compile error exits 1.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="$(mkdir -p "${1:-build-libtorch2}" && cd "${1:-build-libtorch2}" && pwd)"
NODE_ADDON_API="$(node -p "require('node-addon-api').include_dir")"
NODE_INCLUDE="$(dirname "$(command -v node)")/../include/node"
CUDA_INCLUDE=""
for dir in /usr/local/cuda/include /usr/include; do
  if [ -f "$dir/cuda_runtime_api.h" ]; then CUDA_INCLUDE="$dir"; break; fi
done
# A CPU build of libtorch lacks this generated header; the CUDA paths only need it to exist.
mkdir -p "$OUT/cuda-stub/c10/cuda/impl"
echo '#define C10_CUDA_BUILD_SHARED_LIBS' > "$OUT/cuda-stub/c10/cuda/impl/cuda_cmake_macros.h"

# fetch_headers SUITE [PACKAGE_VERSION] → prints the include folder, or fails
fetch_headers() {
  local suite="$1" version="$2" dir="$OUT/$1"
  if [ ! -f "$dir/root/usr/include/ATen/ATen.h" ]; then
    mkdir -p "$dir/lists/partial" "$dir/cache/archives/partial" "$dir/deb"
    echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian $suite main" > "$dir/sources.list"
    local apt_options=(-o "Dir::Etc::SourceList=$dir/sources.list" -o Dir::Etc::SourceParts=/nonexistent
      -o "Dir::State::Lists=$dir/lists" -o "Dir::Cache=$dir/cache" -o Dir::State::status=/dev/null
      -o APT::Sandbox::User=root)
    { apt-get "${apt_options[@]}" update -qq &&
      (cd "$dir/deb" && apt-get "${apt_options[@]}" download -qq "libtorch-dev${version:+=$version}"); } > "$dir/fetch.txt" 2>&1 || return 1
    dpkg-deb -x "$dir"/deb/libtorch-dev_*.deb "$dir/root"
  fi
  echo "$dir/root/usr/include"
}

# check_release SUITE PACKAGE_VERSION CXX_STANDARD → 0 when every file compiles
check_release() {
  local suite="$1" version="$2" std="$3" include
  if ! include="$(fetch_headers "$suite" "$version")"; then
    tail -3 "$OUT/$suite/fetch.txt"
    echo "SKIPPED: Debian $suite's libtorch-dev ${version:-(current)} could not be fetched"
    return 0
  fi
  local flags=(-std="$std" -fsyntax-only -fopenmp -Wall -Wextra -Wno-unused-parameter -Werror
    -DNAPI_VERSION=8 -DNODE_ADDON_API_DISABLE_DEPRECATED -I native
    -isystem "$include" -isystem "$include/torch/csrc/api/include"
    -isystem "$NODE_ADDON_API" -isystem "$NODE_INCLUDE")
  local cuda_flags=(-DLORA_NODE_WITH_CUDA=1 -DLORA_NODE_CUDA_KERNELS=1 -isystem "$OUT/cuda-stub" -isystem "$CUDA_INCLUDE")
  local log="$OUT/$suite/log" failed=0 file
  mkdir -p "$log"
  compile() {  # compile LABEL FILE [flags]: in the background, at most nproc at once
    local label="$1" file="$2"; shift 2
    {
      g++ "${flags[@]}" "$@" "$file" > "$log/$label-$(basename "$file").txt" 2>&1 ||
        { echo "FAILED ($suite, $label): $file"; head -20 "$log/$label-$(basename "$file").txt"; exit 1; }
    } &
    while [ "$(jobs -rp | wc -l)" -ge "$(nproc)" ]; do wait -n || failed=1; done
  }
  local files=(native/core/*.cpp native/addon/*.cpp benchmarks/gpu/core_check.cpp benchmarks/gpu/core_bench.cpp)
  for file in "${files[@]}"; do compile cpu "$file"; done
  if [ -n "$CUDA_INCLUDE" ]; then
    for file in $(grep -l 'LORA_NODE_WITH_CUDA\|LORA_NODE_CUDA_KERNELS' native/core/*.cpp benchmarks/gpu/*.cpp); do
      compile cuda "$file" "${cuda_flags[@]}"
    done
  fi
  while [ "$(jobs -rp | wc -l)" -gt 0 ]; do wait -n || failed=1; done
  version="$(ls "$OUT/$suite/deb" | sed -n 's/^libtorch-dev_\(.*\)_amd64\.deb$/\1/p')"
  local what="${#files[@]} files"
  if [ -n "$CUDA_INCLUDE" ]; then what="$what and the CUDA paths"; else what="$what (CUDA paths not checked: no cuda_runtime_api.h)"; fi
  if [ "$failed" != 0 ]; then echo "FAILED: $what against libtorch $version (Debian $suite, $std)"; return 1; fi
  echo "ok: $what compile against libtorch $version (Debian $suite, $std)"
}

failed=0
check_release trixie "" c++17 || failed=1
check_release sid 2.14.1+dfsg-1 c++20 || failed=1
if [ "$failed" != 0 ]; then exit 1; fi
echo "PASSED: native code compiles against libtorch 2"
