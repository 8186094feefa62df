#include "core/fused_norm.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <cmath>
#include <cstring>

#include "core/errors.h"

// The row loops are compiled for AVX-512, AVX2 and baseline on x86-64; the loader picks what the CPU has.
#if defined(__x86_64__) && defined(__GNUC__)
#define LORA_NORM_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define LORA_NORM_CLONES
#endif

namespace lora {
namespace {

inline float bf16_to_float(uint16_t bits) {
  const uint32_t u = static_cast<uint32_t>(bits) << 16;
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

inline uint16_t float_to_bf16(float f) {  // round to nearest even (finite values)
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  u += 0x7fffu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}

// One row: s = x + y + b kept in `out`, then out = (s - mean) / sqrt(var + eps) * w + beta.
template <typename Y>
inline __attribute__((always_inline)) void row(const float* x, const Y* y, const float* b, const float* w,
                                               const float* beta, float* out, uint16_t* out16, int64_t C, float eps) {
  float sum = 0.f;
#pragma omp simd reduction(+ : sum)
  for (int64_t c = 0; c < C; ++c) {
    float yc;
    if constexpr (sizeof(Y) == 2) yc = bf16_to_float(y[c]);
    else yc = y[c];
    const float s = x[c] + yc + (b ? b[c] : 0.f);
    out[c] = s;
    sum += s;
  }
  const float mean = sum / static_cast<float>(C);
  float sq = 0.f;
#pragma omp simd reduction(+ : sq)
  for (int64_t c = 0; c < C; ++c) {
    const float d = out[c] - mean;
    sq += d * d;
  }
  const float rstd = 1.f / std::sqrt(sq / static_cast<float>(C) + eps);  // biased variance, as LayerNorm
  if (out16) {
#pragma omp simd
    for (int64_t c = 0; c < C; ++c) {
      out[c] = (out[c] - mean) * rstd * w[c] + beta[c];
      out16[c] = float_to_bf16(out[c]);
    }
  } else {
#pragma omp simd
    for (int64_t c = 0; c < C; ++c) out[c] = (out[c] - mean) * rstd * w[c] + beta[c];
  }
}

LORA_NORM_CLONES void row_f32(const float* x, const float* y, const float* b,
                                                                        const float* w, const float* beta, float* out,
                                                                        uint16_t* out16, int64_t C, float eps) {
  row(x, y, b, w, beta, out, out16, C, eps);
}

LORA_NORM_CLONES void row_bf16(const float* x, const uint16_t* y, const float* b,
                                                                         const float* w, const float* beta, float* out,
                                                                         uint16_t* out16, int64_t C, float eps) {
  row(x, y, b, w, beta, out, out16, C, eps);
}

}  // namespace

at::Tensor residual_layer_norm(const at::Tensor& x, const at::Tensor& y, const at::Tensor& bias,
                               const at::Tensor& weight, const at::Tensor& beta, double eps, at::Tensor* bf16_copy) {
  TORCH_INTERNAL_ASSERT(x.is_cpu() && x.scalar_type() == at::kFloat && x.is_contiguous());
  TORCH_INTERNAL_ASSERT(y.sizes().equals(x.sizes()) && y.is_contiguous());
  TORCH_INTERNAL_ASSERT(y.scalar_type() == at::kFloat || y.scalar_type() == at::kBFloat16);
  const int64_t C = x.size(-1);
  const int64_t rows = x.numel() / C;
  at::Tensor out = at::empty_like(x);
  const float* px = x.data_ptr<float>();
  const float* pb = bias.defined() ? bias.data_ptr<float>() : nullptr;
  const float* pw = weight.data_ptr<float>();
  const float* pbeta = beta.data_ptr<float>();
  float* po = out.data_ptr<float>();
  uint16_t* p16 = nullptr;
  if (bf16_copy) {
    *bf16_copy = at::empty(x.sizes(), x.options().dtype(at::kBFloat16));
    p16 = reinterpret_cast<uint16_t*>(bf16_copy->data_ptr());
  }
  const bool half = y.scalar_type() == at::kBFloat16;
  const void* py = y.data_ptr();
  at::parallel_for(0, rows, 16, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      if (half)
        row_bf16(px + r * C, static_cast<const uint16_t*>(py) + r * C, pb, pw, pbeta, po + r * C, p16 ? p16 + r * C : nullptr, C,
                 static_cast<float>(eps));
      else
        row_f32(px + r * C, static_cast<const float*>(py) + r * C, pb, pw, pbeta, po + r * C, p16 ? p16 + r * C : nullptr, C,
                static_cast<float>(eps));
    }
  });
  return out;
}

}  // namespace lora
