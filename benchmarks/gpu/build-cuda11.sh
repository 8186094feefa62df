#!/usr/bin/env bash
# The oldest target we promise: a GeForce GTX 1050 Ti (sm_61), which needs CUDA 11.x
# (nvcc 12 dropped sm_61). No GPU needed: this compiles, it does not run kernels.
#   bash benchmarks/gpu/build-cuda11.sh [OUT_DIR]
# 1. Gets CUDA 11.8 from Debian 12's nvidia-cuda-toolkit (non-free) and g++-11, the
#    newest host compiler CUDA 11.8 accepts, when they are missing and we are root.
# 2. Compiles the kernel check (nf4_check.cu + native/kernels) for sm_61 and requires
#    sm_61 machine code in the binary.
# 3. Configures the project with that nvcc (default architectures 61 75 80 86), builds
#    the core with the kernels and the GPU check program, and runs the check on the CPU.
# Exits non-zero when a build fails. When the toolkit cannot be installed it says
# SKIPPED and exits 0, so a machine without Debian's non-free packages still passes CI.
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT="${1:-build-cuda11}"
TOOLKIT_BIN=/usr/lib/nvidia-cuda-toolkit/bin

if [ ! -x "$TOOLKIT_BIN/nvcc" ] || ! command -v g++-11 >/dev/null 2>&1; then
  if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "SKIPPED: CUDA 11.8 is not installed (Debian: nvidia-cuda-toolkit g++-11, as root)"
    exit 0
  fi
  source_file=/etc/apt/sources.list.d/lora-node-debian-non-free.sources
  if ! apt-cache policy nvidia-cuda-toolkit 2>/dev/null | grep -q 'Candidate: 11\.'; then
    codename="$(. /etc/os-release && echo "${VERSION_CODENAME:-}")"
    if [ "$codename" != "bookworm" ]; then
      echo "SKIPPED: CUDA 11.8 comes from Debian 12's non-free packages; this is '${codename:-unknown}'"
      exit 0
    fi
    printf 'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm bookworm-updates\nComponents: contrib non-free non-free-firmware\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' > "$source_file"
    apt-get update -qq
  fi
  if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nvidia-cuda-toolkit g++-11 > /tmp/lora-node-cuda11-install.log 2>&1; then
    tail -5 /tmp/lora-node-cuda11-install.log
    echo "SKIPPED: apt-get could not install nvidia-cuda-toolkit g++-11"
    exit 0
  fi
fi

# Debian's nvcc finds ptxas and cicc on PATH: put CUDA 11.8's ahead of any newer nvcc.
export PATH="$TOOLKIT_BIN:/usr/bin:/bin:$PATH"
# /usr/bin/nvcc (a wrapper) lets CMake find the toolkit headers under /usr/include.
NVCC=/usr/bin/nvcc
"$NVCC" --version | tail -1
rm -rf "$OUT/build"
mkdir -p "$OUT"

echo "== kernels + kernel check for sm_61 (CUDA 11.8, host g++-11)"
"$NVCC" -ccbin g++-11 -std=c++17 -O2 -Xcompiler -Wall,-Werror \
  -gencode arch=compute_61,code=sm_61 -I native \
  benchmarks/gpu/nf4_check.cu native/kernels/nf4_dequant.cu -o "$OUT/nf4_check_sm61"
cuobjdump --list-elf "$OUT/nf4_check_sm61" | grep -q 'sm_61' \
  || { echo "FAILED: no sm_61 code in nf4_check_sm61"; exit 1; }
echo "ok: nf4_check_sm61 holds sm_61 code"

echo "== core + GPU check program with CUDA 11.8 (architectures chosen by CMakeLists.txt)"
cmake -S . -B "$OUT/build" -DCMAKE_BUILD_TYPE=Release \
  -DLORA_NODE_CUDA=ON -DLORA_NODE_BUILD_GPU_CHECK=ON \
  -DCMAKE_CUDA_COMPILER="$NVCC" -DCMAKE_CUDA_HOST_COMPILER=/usr/bin/g++-11 \
  > "$OUT/configure.txt" 2>&1 || { tail -30 "$OUT/configure.txt"; exit 1; }
cmake --build "$OUT/build" --target core_check -j "$(nproc)" > "$OUT/build.txt" 2>&1 \
  || { tail -40 "$OUT/build.txt"; exit 1; }
archs="$(cuobjdump --list-elf "$OUT/build/liblora_kernels.a" | grep -o 'sm_[0-9]*' | sort -u | tr '\n' ' ')"
echo "lora_kernels machine code: $archs"
case "$archs" in *sm_61*) ;; *) echo "FAILED: lora_kernels has no sm_61 code"; exit 1 ;; esac
"$OUT/build/core_check" . cpu | tail -1
