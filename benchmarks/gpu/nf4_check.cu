// GPU check and timing for the 4-bit kernels (native/kernels), for a machine
// with an NVIDIA GPU; no Node, no ATen. It quantizes random weights on the GPU
// and on the CPU with the same per-element math (native/core/nf4_codes.h), then:
//   - packed codes and absmax must be bit-identical (NF4 and FP4, odd sizes too);
//   - GPU dequantization (fp32, fp16) must equal the CPU decode within 1e-6;
//   - double-quant dequantization is checked against the CPU decode of the same codes;
//   - the fused gemv must agree with a CPU float64 matvec (relative 1e-4);
//   - dequantization throughput (GB/s of output) is timed against cudaMemcpy
//     device-to-device of the same size.
// Prints a table and one JSON line; exits 1 on any mismatch. Build: run.sh.
#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

#include "core/nf4_codes.h"
#include "kernels/nf4_kernels.h"

namespace nf4 = lora::nf4;

#define CHECK(call)                                                                          \
  do {                                                                                       \
    cudaError_t e = (call);                                                                  \
    if (e != cudaSuccess) {                                                                  \
      std::fprintf(stderr, "%s:%d %s: %s\n", __FILE__, __LINE__, #call, cudaGetErrorString(e)); \
      std::exit(2);                                                                          \
    }                                                                                        \
  } while (0)

static int failures = 0;
static void expect(bool ok, const char* what, const char* type, long long n, int blocksize) {
  if (!ok) {
    ++failures;
    std::printf("MISMATCH %s (%s, n=%lld, blocksize=%d)\n", what, type, n, blocksize);
  }
}

// CPU reference of lora_nf4_quantize: per-block absmax, full blocks by reciprocal,
// the tail block by division storing max(absmax, 1e-38); odd n padded with 0.0.
static void cpu_quantize(const std::vector<float>& w, int blocksize, nf4::QuantType type, std::vector<uint8_t>& packed,
                         std::vector<float>& absmax) {
  const int64_t n = (int64_t)w.size(), blocks = nf4::ceil_div(n, blocksize);
  // The padding element of an odd n is 0.0, quantized like any other.
  std::vector<unsigned> codes(n + 1, nf4::quantize_scaled(type, 0.0f));
  absmax.assign(blocks, 0.f);
  for (int64_t b = 0; b < blocks; ++b) {
    const int64_t begin = b * blocksize, end = std::min(n, begin + blocksize);
    float m = 0.f;
    for (int64_t i = begin; i < end; ++i) m = std::max(m, std::fabs(w[i]));
    if (end - begin == blocksize) {
      const float r = nf4::full_block_reciprocal(m);
      for (int64_t i = begin; i < end; ++i) codes[i] = nf4::code_full(type, w[i], r);
      absmax[b] = m;
    } else {
      for (int64_t i = begin; i < end; ++i) codes[i] = nf4::code_tail(type, w[i], m);
      absmax[b] = std::max(m, nf4::kMinScale);
    }
  }
  packed.assign(nf4::ceil_div(n, 2), 0);
  for (int64_t i = 0; i < n; i += 2) packed[i / 2] = nf4::pack_pair(codes[i], codes[i + 1]);
}

static float half_to_float(uint16_t h) {
  const uint32_t sign = (h >> 15) & 1, exp = (h >> 10) & 31, mant = h & 1023;
  float v = exp == 0 ? std::ldexp((float)mant, -24) : exp == 31 ? INFINITY : std::ldexp((float)(mant | 1024), (int)exp - 25);
  return sign ? -v : v;
}

template <typename T>
struct Device {
  T* p = nullptr;
  explicit Device(size_t n) { CHECK(cudaMalloc(&p, std::max<size_t>(n, 1) * sizeof(T))); }
  ~Device() { cudaFree(p); }
};

static void check_case(int64_t n, int blocksize, nf4::QuantType type, std::mt19937& rng) {
  const char* name = type == nf4::QuantType::kFp4 ? "fp4" : "nf4";
  std::normal_distribution<float> dist(0.f, 0.02f);
  std::vector<float> w(n);
  for (auto& v : w) v = dist(rng);
  if (n > 3 * blocksize) std::fill(w.begin() + blocksize, w.begin() + 2 * blocksize, 0.f);  // an all-zero block
  std::vector<uint8_t> packed;
  std::vector<float> absmax;
  cpu_quantize(w, blocksize, type, packed, absmax);
  const int64_t blocks = (int64_t)absmax.size();

  Device<float> dw(n), dabs(blocks), dout(n);
  Device<uint8_t> dpacked(packed.size());
  Device<uint16_t> dhalf(n);
  CHECK(cudaMemcpy(dw.p, w.data(), n * 4, cudaMemcpyHostToDevice));
  CHECK(lora_nf4_quantize(dw.p, n, blocksize, (int)type, dpacked.p, dabs.p, 0));
  std::vector<uint8_t> gpacked(packed.size());
  std::vector<float> gabs(blocks);
  CHECK(cudaMemcpy(gpacked.data(), dpacked.p, gpacked.size(), cudaMemcpyDeviceToHost));
  CHECK(cudaMemcpy(gabs.data(), dabs.p, blocks * 4, cudaMemcpyDeviceToHost));
  expect(gpacked == packed, "packed codes", name, n, blocksize);
  expect(std::memcmp(gabs.data(), absmax.data(), blocks * 4) == 0, "absmax", name, n, blocksize);

  LoraNf4Absmax a{dabs.p, nullptr, nullptr, 0.f, 0};
  CHECK(lora_nf4_dequantize_f32(dpacked.p, a, (int)type, n, blocksize, dout.p, 0));
  CHECK(lora_nf4_dequantize_f16(dpacked.p, a, (int)type, n, blocksize, dhalf.p, 0));
  std::vector<float> gout(n);
  std::vector<uint16_t> ghalf(n);
  CHECK(cudaMemcpy(gout.data(), dout.p, n * 4, cudaMemcpyDeviceToHost));
  CHECK(cudaMemcpy(ghalf.data(), dhalf.p, n * 2, cudaMemcpyDeviceToHost));
  double worst = 0, worst_half = 0;
  const float* table = nf4::code_table(type);
  for (int64_t i = 0; i < n; ++i) {
    const float ref = nf4::decode(table, nf4::nibble(packed.data(), i), absmax[i / blocksize]);
    worst = std::max(worst, (double)std::fabs(gout[i] - ref));
    worst_half = std::max(worst_half, (double)std::fabs(half_to_float(ghalf[i]) - ref) / std::max(std::fabs(ref), 1e-4f));
  }
  expect(worst <= 1e-6, "dequantized fp32", name, n, blocksize);
  expect(worst_half <= 1e-3, "dequantized fp16 (relative, half precision)", name, n, blocksize);

  // Double quant: 8-bit codes of absmax - offset (offset: float32 mean, as the CPU core passes it).
  float offset = 0.f;
  for (float v : absmax) offset += v / (float)blocks;
  const int nested_blocks = (int)nf4::ceil_div(blocks, 256);
  Device<uint8_t> dcodes(blocks);
  Device<float> dnested(nested_blocks);
  CHECK(lora_nf4_quantize_absmax_8bit(dabs.p, blocks, offset, 256, dcodes.p, dnested.p, 0));
  std::vector<uint8_t> codes(blocks);
  std::vector<float> nested(nested_blocks);
  CHECK(cudaMemcpy(codes.data(), dcodes.p, blocks, cudaMemcpyDeviceToHost));
  CHECK(cudaMemcpy(nested.data(), dnested.p, nested_blocks * 4, cudaMemcpyDeviceToHost));
  LoraNf4Absmax dq{nullptr, dcodes.p, dnested.p, offset, 256};
  CHECK(lora_nf4_dequantize_f32(dpacked.p, dq, (int)type, n, blocksize, dout.p, 0));
  CHECK(cudaMemcpy(gout.data(), dout.p, n * 4, cudaMemcpyDeviceToHost));
  worst = 0;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t b = i / blocksize;
    const float scale = nf4::dequantize_absmax(nf4::kDynamicMap, codes[b], nested[b / 256], offset);
    worst = std::max(worst, (double)std::fabs(gout[i] - nf4::decode(table, nf4::nibble(packed.data(), i), scale)));
  }
  expect(worst <= 1e-6, "double-quant dequantized fp32", name, n, blocksize);
}

static void check_gemv(std::mt19937& rng) {
  const int m = 4, k = 768, n = 3072, blocksize = 64;
  std::normal_distribution<float> dist(0.f, 1.f);
  std::vector<float> w((size_t)n * k), x((size_t)m * k);
  for (auto& v : w) v = 0.02f * dist(rng);
  for (auto& v : x) v = dist(rng);
  std::vector<uint8_t> packed;
  std::vector<float> absmax;
  cpu_quantize(w, blocksize, nf4::QuantType::kNf4, packed, absmax);
  Device<float> dx(x.size()), dabs(absmax.size()), dy((size_t)m * n);
  Device<uint8_t> dpacked(packed.size());
  CHECK(cudaMemcpy(dx.p, x.data(), x.size() * 4, cudaMemcpyHostToDevice));
  CHECK(cudaMemcpy(dabs.p, absmax.data(), absmax.size() * 4, cudaMemcpyHostToDevice));
  CHECK(cudaMemcpy(dpacked.p, packed.data(), packed.size(), cudaMemcpyHostToDevice));
  LoraNf4Absmax a{dabs.p, nullptr, nullptr, 0.f, 0};
  CHECK(lora_nf4_gemv_f32(dx.p, m, k, dpacked.p, a, 0, n, blocksize, dy.p, 0));
  std::vector<float> y((size_t)m * n);
  CHECK(cudaMemcpy(y.data(), dy.p, y.size() * 4, cudaMemcpyDeviceToHost));
  double worst = 0, scale = 0;
  for (int r = 0; r < m; ++r)
    for (int j = 0; j < n; ++j) {
      double ref = 0;
      for (int c = 0; c < k; ++c) {
        const int64_t i = (int64_t)j * k + c;
        ref += (double)x[(size_t)r * k + c] * nf4::decode(nf4::kNf4Code, nf4::nibble(packed.data(), i), absmax[i / blocksize]);
      }
      worst = std::max(worst, std::fabs(y[(size_t)r * n + j] - ref));
      scale = std::max(scale, std::fabs(ref));
    }
  expect(worst / scale <= 1e-4, "fused gemv vs float64 matvec", "nf4", (long long)n * k, blocksize);
}

int main() {
  cudaDeviceProp prop;
  CHECK(cudaGetDeviceProperties(&prop, 0));
  std::printf("device: %s (sm_%d%d, %.1f GiB)\n", prop.name, prop.major, prop.minor, prop.totalGlobalMem / 1073741824.0);
  std::mt19937 rng(1234);
  for (auto type : {nf4::QuantType::kNf4, nf4::QuantType::kFp4})
    for (int blocksize : {32, 64, 128, 256, 512, 1024, 2048, 4096})
      for (int64_t n : {(int64_t)768 * 768, (int64_t)5 * 27, (int64_t)blocksize * 3 + 7, (int64_t)100001}) check_case(n, blocksize, type, rng);
  check_gemv(rng);

  // Throughput: dequantize 768×3072×8 weights to fp32 vs a device-to-device copy of the output size.
  const int64_t n = 768LL * 3072 * 8;
  const int blocksize = 64;
  Device<float> dw(n), dabs(n / blocksize), dout(n), dcopy(n);
  Device<uint8_t> dpacked(n / 2);
  std::vector<float> w(n);
  std::normal_distribution<float> dist(0.f, 0.02f);
  for (auto& v : w) v = dist(rng);
  CHECK(cudaMemcpy(dw.p, w.data(), n * 4, cudaMemcpyHostToDevice));
  CHECK(lora_nf4_quantize(dw.p, n, blocksize, 0, dpacked.p, dabs.p, 0));
  LoraNf4Absmax a{dabs.p, nullptr, nullptr, 0.f, 0};
  cudaEvent_t start, stop;
  CHECK(cudaEventCreate(&start));
  CHECK(cudaEventCreate(&stop));
  auto time_ms = [&](auto&& fn) {
    for (int i = 0; i < 5; ++i) fn();
    std::vector<float> t;
    for (int i = 0; i < 21; ++i) {
      CHECK(cudaEventRecord(start));
      fn();
      CHECK(cudaEventRecord(stop));
      CHECK(cudaEventSynchronize(stop));
      float ms = 0;
      CHECK(cudaEventElapsedTime(&ms, start, stop));
      t.push_back(ms);
    }
    std::sort(t.begin(), t.end());
    return t[t.size() / 2];
  };
  const float dq = time_ms([&] { CHECK(lora_nf4_dequantize_f32(dpacked.p, a, 0, n, blocksize, dout.p, 0)); });
  const float cp = time_ms([&] { CHECK(cudaMemcpyAsync(dcopy.p, dout.p, n * 4, cudaMemcpyDeviceToDevice)); });
  const double gb = n * 4 / 1e9;
  std::printf("| operation | output MB | median ms | GB/s of output |\n|---|---|---|---|\n");
  std::printf("| dequantize NF4 -> fp32 | %.1f | %.3f | %.1f |\n", gb * 1e3, dq, gb / (dq / 1e3));
  std::printf("| cudaMemcpy device-to-device | %.1f | %.3f | %.1f |\n", gb * 1e3, cp, gb / (cp / 1e3));
  std::printf("{\"device\":\"%s\",\"failures\":%d,\"dequant_gbps\":%.2f,\"copy_gbps\":%.2f}\n", prop.name, failures,
              gb / (dq / 1e3), gb / (cp / 1e3));
  std::printf(failures ? "FAILED: %d mismatches\n" : "all checks passed\n", failures);
  return failures ? 1 : 0;
}
