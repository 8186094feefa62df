#!/usr/bin/env bash
# The GPU check for a machine with an NVIDIA GPU, CUDA and a Python with PyTorch
# (the device machine; no Node needed). Run from the repository root:
#   bash benchmarks/gpu/run.sh [OUT_DIR]
# 1. builds benchmarks/gpu/nf4_check.cu with the CUDA kernels for this GPU and runs
#    it: CUDA vs CPU bit-exact packing, dequantized values within 1e-6, fused gemv,
#    and dequantization GB/s against a device-to-device copy;
# 2. builds the native core (lora_core) against this machine's PyTorch libtorch
#    with the CUDA option on, and runs benchmarks/gpu/core_check.cpp on the GPU: LoRA
#    and QLoRA logits, loss and gradients against the golden fixtures, bf16/fp16,
#    and a few training steps (the CUDA training path, without Node);
# 3. times training (core_bench.cpp: LoRA and QLoRA, fp32 and bf16, batch 16 x 128 on a
#    DistilBERT-base-shaped checkpoint) and the same job in transformers + PEFT
#    (peft_bench.py, on the checkpoint core_bench wrote), with peak device memory.
# Writes text reports to OUT_DIR (default benchmarks/.work/gpu), builds in BUILD_DIR
# (default benchmarks/.work/gpu-build), and exits non-zero on failure.
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT="${1:-benchmarks/.work/gpu}"
# Binaries and build files stay out of OUT, which holds only the text reports.
BUILD="${BUILD_DIR:-benchmarks/.work/gpu-build}"
mkdir -p "$OUT" "$BUILD"
PYTHON="${PYTHON:-python3}"

echo "== nvidia-smi" | tee "$OUT/gpu.txt"
nvidia-smi --query-gpu=name,compute_cap,driver_version,memory.total --format=csv | tee -a "$OUT/gpu.txt"
nvcc --version | tail -2 | tee -a "$OUT/gpu.txt"

echo "== build and run the kernel check"
ARCH="$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader | head -1 | tr -d '.')"
nvcc -std=c++17 -O2 -gencode "arch=compute_${ARCH},code=sm_${ARCH}" -I native \
  benchmarks/gpu/nf4_check.cu native/kernels/nf4_dequant.cu -o "$BUILD/nf4_check"
# A failed check is remembered, not fatal: one device session should bring back every report.
status=0
"$BUILD/nf4_check" | tee "$OUT/nf4_check.txt" || status=1

echo "== build the core against PyTorch's libtorch (CUDA)"
TORCH_PREFIX="$("$PYTHON" -c 'import torch.utils; print(torch.utils.cmake_prefix_path)')"
"$PYTHON" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, "cxx11 abi", torch.compiled_with_cxx11_abi())' | tee "$OUT/torch.txt"
cmake -S . -B "$BUILD/cmake" -DCMAKE_PREFIX_PATH="$TORCH_PREFIX" -DLORA_NODE_CUDA=ON -DLORA_NODE_BUILD_GPU_CHECK=ON \
  -DCMAKE_CUDA_COMPILER="$(command -v nvcc)" -DCMAKE_CUDA_ARCHITECTURES="$ARCH" -DCMAKE_BUILD_TYPE=Release > "$OUT/cmake-configure.txt" 2>&1 \
  || { tail -40 "$OUT/cmake-configure.txt"; exit 1; }
cmake --build "$BUILD/cmake" --target core_check core_bench -j "$(nproc)" > "$OUT/cmake-build.txt" 2>&1 \
  || { tail -60 "$OUT/cmake-build.txt"; exit 1; }
echo "lora_core built against $TORCH_PREFIX" | tee -a "$OUT/torch.txt"

echo "== the core on the GPU against the golden fixtures (LoRA, QLoRA with the CUDA dequant kernels, training)"
"$BUILD/cmake/core_check" . cuda | tee "$OUT/core_check.txt" || status=1

echo "== training speed and memory: lora-node's core (LoRA, QLoRA; fp32, bf16)"
# The 265 MB checkpoint goes to a temp folder, not OUT (whose files travel back).
BENCH_WORK="$(mktemp -d)"
"$BUILD/cmake/core_bench" "$BENCH_WORK" cuda 20 | tee "$OUT/core_bench.txt" || status=1
echo "== the same job in transformers + PEFT (+ bitsandbytes when installed)"
"$PYTHON" benchmarks/gpu/peft_bench.py "$BENCH_WORK/distilbert-base-random" 20 2>&1 | tee "$OUT/peft_bench.txt" || status=1
rm -rf "$BENCH_WORK"
exit "$status"
