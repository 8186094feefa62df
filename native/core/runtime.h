// What this process runs on: libtorch build, devices, BLAS, threads, CPU features.
#pragma once

#include <c10/core/Device.h>

#include <string>
#include <vector>

#include "core/precision.h"

namespace lora {

struct CpuFeatures {
  bool avx2 = false;
  bool avx512f = false;
  bool avx512_bf16 = false;
  bool amx_bf16 = false;  // AMX tiles with bf16, usable by this process (OS support checked)
};

struct BlasInfo {
  std::string library;   // path of the loaded BLAS shared object ("" when none found)
  std::string kind;      // "openblas", "mkl", "reference", "unknown"
  std::string core;      // OpenBLAS' detected/forced core name ("" when not OpenBLAS)
  std::string config;    // OpenBLAS build config string
};

struct RuntimeInfo {
  std::string torch_version;
  bool cuda_available = false;
  int cuda_device_count = 0;
  std::vector<std::string> cuda_devices;  // names with compute capability
  bool built_with_cuda_kernels = false;
  int intra_op_threads = 1;
  CpuFeatures cpu;
  BlasInfo blas;
  std::string parallel_info;
};

// glibc malloc hands each large tensor (above its dynamic threshold, ~MBs) back
// to the OS on free, so the next forward pays page faults to zero fresh pages.
// Keeping freed memory up to 256 MiB in the heap, and tensors up to 32 MiB
// (glibc's maximum) off mmap, avoids that: ~3% faster bf16 inference here.
// Skipped when the user set MALLOC_MMAP_THRESHOLD_ / MALLOC_TRIM_THRESHOLD_ or
// LORA_NODE_MALLOC_TUNING=off. Returns a line for doctor.
std::string configure_allocator();
const std::string& allocator_setting();

CpuFeatures detect_cpu_features();
BlasInfo detect_blas();
RuntimeInfo runtime_info();

// Sets libtorch's intra-op threads (global; also re-applied per worker thread).
void set_threads(int threads);

// 'auto' | 'cpu' | 'cuda' | 'cuda:N' -> a device that exists (ERR_DEVICE otherwise).
c10::Device resolve_device(const std::string& name);

// 'auto' | 'fp32' | 'bf16' | 'fp16' for a device -> a precision it runs well.
// `why` receives a one-line reason (doctor prints it).
Precision resolve_precision(const std::string& name, c10::Device device, std::string* why);

// Largest relative error of a float32 matmul through libtorch's BLAS against a
// naive float64 product (detects a BLAS core type that computes wrongly).
double blas_self_check();

}  // namespace lora
