#include "core/runtime.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/detail/CUDAHooksInterface.h>
#include <torch/csrc/api/include/torch/version.h>

#include <dlfcn.h>
#include <malloc.h>

#include <cstdlib>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <random>
#include <sstream>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

#include "core/errors.h"

#ifdef LORA_NODE_WITH_CUDA
#include <ATen/cuda/CUDAContext.h>
#endif

namespace lora {
namespace {

// "cuda:0 NVIDIA GeForce GTX 1050 Ti (sm_61, 4.0 GiB)" where the CUDA headers are available.
std::string cuda_device_description(int index) {
  std::string s = "cuda:" + std::to_string(index);
#ifdef LORA_NODE_WITH_CUDA
  const cudaDeviceProp* p = at::cuda::getDeviceProperties(index);
  std::ostringstream out;
  out << s << " " << p->name << " (sm_" << p->major << p->minor << ", " << (p->totalGlobalMem >> 20) << " MiB)";
  s = out.str();
#endif
  return s;
}

// Compute capability major*10+minor, or 0 when unknown (a CPU-only build).
int cuda_capability(int index) {
#ifdef LORA_NODE_WITH_CUDA
  const cudaDeviceProp* p = at::cuda::getDeviceProperties(index);
  return p->major * 10 + p->minor;
#else
  (void)index;
  return 0;
#endif
}

}  // namespace

namespace {
std::string& allocator_line() {
  static std::string line = "glibc defaults";
  return line;
}
}  // namespace

std::string configure_allocator() {
  const char* off = std::getenv("LORA_NODE_MALLOC_TUNING");
  if (off && std::string(off) == "off") return allocator_line() = "glibc defaults (LORA_NODE_MALLOC_TUNING=off)";
  if (std::getenv("MALLOC_MMAP_THRESHOLD_") || std::getenv("MALLOC_TRIM_THRESHOLD_"))
    return allocator_line() = "glibc settings from the environment (MALLOC_*_THRESHOLD_)";
#if defined(__GLIBC__)
  const bool ok = mallopt(M_MMAP_THRESHOLD, 32 << 20) == 1 && mallopt(M_TRIM_THRESHOLD, 256 << 20) == 1;
  return allocator_line() = ok ? "glibc malloc tuned: mmap threshold 32 MiB, trim threshold 256 MiB (LORA_NODE_MALLOC_TUNING=off to keep defaults)"
                               : "glibc defaults (mallopt refused the tuning)";
#else
  return allocator_line() = "not glibc: allocator left as it is";
#endif
}

const std::string& allocator_setting() { return allocator_line(); }

CpuFeatures detect_cpu_features() {
  CpuFeatures f;
#if defined(__x86_64__)
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) return f;
  f.avx2 = ebx & (1u << 5);
  f.avx512f = ebx & (1u << 16);
  const bool amx_bf16_bit = edx & (1u << 22);
  const bool amx_tile_bit = edx & (1u << 24);
  unsigned eax1 = 0, ebx1 = 0, ecx1 = 0, edx1 = 0;
  if (__get_cpuid_count(7, 1, &eax1, &ebx1, &ecx1, &edx1)) f.avx512_bf16 = eax1 & (1u << 5);
  // The OS must enable the AMX tile state (XCR0 bits 17 and 18).
  unsigned xcr0_lo = 0, xcr0_hi = 0;
  __asm__("xgetbv" : "=a"(xcr0_lo), "=d"(xcr0_hi) : "c"(0));
  f.amx_bf16 = amx_bf16_bit && amx_tile_bit && ((xcr0_lo >> 17) & 3u) == 3u;
  if (!(ebx & (1u << 16))) f.avx512_bf16 = false;
#endif
  return f;
}

BlasInfo detect_blas() {
  BlasInfo info;
  // The BLAS libtorch resolved is whichever libblas/openblas/mkl is mapped into this process.
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line)) {
    const auto slash = line.find('/');
    if (slash == std::string::npos) continue;
    const std::string path = line.substr(slash);
    const std::string file = path.substr(path.rfind('/') + 1);
    if (file.find("openblas") != std::string::npos || file.find("libblas") != std::string::npos ||
        file.find("mkl_core") != std::string::npos || file.find("libmkl") != std::string::npos) {
      info.library = path;
      if (path.find("openblas") != std::string::npos) break;  // prefer the concrete OpenBLAS file
    }
  }
  using CharFn = char* (*)();
  if (auto corename = reinterpret_cast<CharFn>(dlsym(RTLD_DEFAULT, "openblas_get_corename"))) {
    info.kind = "openblas";
    info.core = corename();
    if (auto config = reinterpret_cast<CharFn>(dlsym(RTLD_DEFAULT, "openblas_get_config"))) info.config = config();
  } else if (dlsym(RTLD_DEFAULT, "mkl_get_version")) {
    info.kind = "mkl";
  } else if (info.library.find("blas/libblas") != std::string::npos || info.library.find("libblas.so") != std::string::npos) {
    info.kind = "reference";
  } else {
    info.kind = "unknown";
  }
  return info;
}

RuntimeInfo runtime_info() {
  RuntimeInfo r;
  r.torch_version = TORCH_VERSION;
  r.cuda_available = at::hasCUDA();
  if (r.cuda_available) {
    r.cuda_device_count = at::detail::getCUDAHooks().getNumGPUs();
    for (int i = 0; i < r.cuda_device_count; ++i) r.cuda_devices.push_back(cuda_device_description(i));
  }
#ifdef LORA_NODE_WITH_CUDA
  r.built_with_cuda_kernels = true;
#endif
  r.intra_op_threads = at::get_num_threads();
  r.cpu = detect_cpu_features();
  r.blas = detect_blas();
  r.parallel_info = at::get_parallel_info();
  return r;
}

void set_threads(int threads) {
  if (threads < 1) fail(code::kInvalidArgument, "Expected threads >= 1 but received " + std::to_string(threads));
  if (at::get_num_threads() != threads) at::set_num_threads(threads);
}

c10::Device resolve_device(const std::string& name) {
  if (name == "cpu") return c10::Device(c10::kCPU);
  if (name == "auto") return at::hasCUDA() ? c10::Device(c10::kCUDA, 0) : c10::Device(c10::kCPU);
  if (name.rfind("cuda", 0) == 0) {
    if (!at::hasCUDA())
      fail(code::kDevice, "device \"" + name + "\" was requested but this libtorch has no usable CUDA device "
                          "(run `npx lora-node doctor`)");
    int index = 0;
    if (name.size() > 4) {
      if (name[4] != ':') fail(code::kInvalidArgument, "Expected 'auto', 'cpu', 'cuda' or 'cuda:N' for device but received \"" + name + "\"");
      try {
        index = std::stoi(name.substr(5));
      } catch (...) {
        fail(code::kInvalidArgument, "Expected 'cuda:N' with an integer N for device but received \"" + name + "\"");
      }
    }
    const int count = at::detail::getCUDAHooks().getNumGPUs();
    if (index < 0 || index >= count)
      fail(code::kDevice, "device \"" + name + "\" does not exist; this machine has " + std::to_string(count) + " CUDA devices");
    return c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(index));
  }
  fail(code::kInvalidArgument, "Expected 'auto', 'cpu', 'cuda' or 'cuda:N' for device but received \"" + name + "\"");
}

Precision resolve_precision(const std::string& name, c10::Device device, std::string* why) {
  auto say = [&](const std::string& s) { if (why) *why = s; };
  if (name == "fp32") { say("fp32 requested"); return Precision::FP32; }
  if ((name == "bf16" || name == "fp16") && device.is_cuda()) {
    const int cc = cuda_capability(device.index() < 0 ? 0 : device.index());
    if (cc > 0 && cc < 70)
      fail(code::kDevice, "precision '" + name + "' is not supported on sm_" + std::to_string(cc) +
                              ": this GPU runs half precision far slower than fp32; use 'fp32' or 'auto'");
  }
  if (name == "bf16") { say("bf16 requested"); return Precision::BF16; }
  if (name == "fp16") {
    if (!device.is_cuda()) fail(code::kInvalidArgument, "Expected precision 'fp16' only on a CUDA device but received it for the CPU (use 'bf16' or 'fp32')");
    say("fp16 requested");
    return Precision::FP16;
  }
  if (name != "auto") fail(code::kInvalidArgument, "Expected 'auto', 'fp32', 'bf16' or 'fp16' for precision but received \"" + name + "\"");
  if (device.is_cuda()) {
    // bf16 tensor cores start at sm_80; older GPUs (Pascal's fp16 runs at 1/64 rate) compute in fp32.
    const int cc = cuda_capability(device.index() < 0 ? 0 : device.index());
    if (cc >= 80) { say("bf16: sm_" + std::to_string(cc) + " has bf16 tensor cores"); return Precision::BF16; }
    say(cc == 0 ? "fp32: the GPU's compute capability is unknown in this build"
                : "fp32: sm_" + std::to_string(cc) + " has no bf16 tensor cores (and Pascal runs fp16 at 1/64 rate)");
    return Precision::FP32;
  }
  const CpuFeatures f = detect_cpu_features();
  if (f.amx_bf16) { say("bf16: the CPU has AMX-BF16 (oneDNN runs bf16 matmuls on tiles)"); return Precision::BF16; }
  if (f.avx512_bf16) { say("bf16: the CPU has AVX512-BF16"); return Precision::BF16; }
  say("fp32: the CPU has neither AMX-BF16 nor AVX512-BF16, so bf16 would be emulated and slower");
  return Precision::FP32;
}

double blas_self_check() {
  const int64_t m = 67, k = 131, n = 45;  // odd sizes exercise the kernels' edge handling
  std::mt19937 rng(1234);
  std::uniform_real_distribution<float> dist(-1.f, 1.f);
  at::Tensor a = at::empty({m, k}, at::kFloat), b = at::empty({k, n}, at::kFloat);
  for (int64_t i = 0; i < a.numel(); ++i) a.data_ptr<float>()[i] = dist(rng);
  for (int64_t i = 0; i < b.numel(); ++i) b.data_ptr<float>()[i] = dist(rng);
  at::Tensor c = at::mm(a, b).contiguous();
  const float* pa = a.data_ptr<float>();
  const float* pb = b.data_ptr<float>();
  const float* pc = c.data_ptr<float>();
  double worst = 0;
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double ref = 0, mag = 0;
      for (int64_t p = 0; p < k; ++p) {
        ref += static_cast<double>(pa[i * k + p]) * pb[p * n + j];
        mag += std::abs(static_cast<double>(pa[i * k + p]) * pb[p * n + j]);
      }
      worst = std::max(worst, std::abs(pc[i * n + j] - ref) / std::max(mag, 1e-30));
    }
  return worst;
}

}  // namespace lora
