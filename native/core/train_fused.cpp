#include "core/train_fused.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/csrc/autograd/custom_function.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "core/dropout_hash.h"
#include "core/fast_dropout.h"

namespace lora {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;
namespace dh = dropout_hash;

inline float load(const float* p, int64_t j) { return p[j]; }
inline float load(const uint16_t* p, int64_t j) { return dh::bf16_to_float(p[j]); }
inline void store(float* p, int64_t j, float v) { p[j] = v; }
inline void store(uint16_t* p, int64_t j, float v) { p[j] = dh::float_to_bf16(v); }
inline float round_to(const float*, float v) { return v; }
inline float round_to(const uint16_t*, float v) { return dh::bf16_to_float(dh::float_to_bf16(v)); }

// e^x for x <= 0 (softmax after subtracting the row max), Cephes' expf: range
// reduction to [-ln2/2, ln2/2], degree-6 polynomial, ~1 ulp; pure arithmetic so
// it vectorizes. Below -87.3 (e^x under float's normal range) it returns 0.
inline float exp_nonpositive(float x) {
  const float xc = x < -87.3f ? -87.3f : x;
  // n = round(x·log2 e) by the 1.5·2^23 trick (exact for |n| < 2^22; plain adds, so it vectorizes).
  const float n = (xc * 1.44269504088896341f + 12582912.f) - 12582912.f;
  float r = xc - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  float y = 1.9875691500e-4f;
  y = y * r + 1.3981999507e-3f;
  y = y * r + 8.3334519073e-3f;
  y = y * r + 4.1665795894e-2f;
  y = y * r + 1.6666665459e-1f;
  y = y * r + 5.0000001201e-1f;
  y = y * r * r + r + 1.0f;
  const int32_t e = (static_cast<int32_t>(n) + 127) << 23;
  float scale;
  std::memcpy(&scale, &e, sizeof scale);
  return x < -87.3f ? 0.f : y * scale;
}

// One row of T scores -> probs (stored rounded) and dropped probs.
//   v = masked ? lowest : s;  P = softmax(v);  D = keep ? P·scale : 0
template <typename S>
inline __attribute__((always_inline)) void forward_row(const S* s, const uint8_t* masked, S* probs, S* dropped, int64_t T,
                                                       float lowest, uint64_t first, uint64_t key, uint32_t threshold,
                                                       float scale, float* tmp) {
  float mx = -std::numeric_limits<float>::infinity();
#pragma omp simd reduction(max : mx)
  for (int64_t j = 0; j < T; ++j) {
    const float sj = load(s, j);
    const float v = masked[j] ? lowest : sj;
    tmp[j] = v;
    mx = v > mx ? v : mx;
  }
#pragma omp simd
  for (int64_t j = 0; j < T; ++j) tmp[j] = exp_nonpositive(tmp[j] - mx);
  float sum = 0.f;
#pragma omp simd reduction(+ : sum)
  for (int64_t j = 0; j < T; ++j) sum += tmp[j];
  const float inv = 1.f / sum;
  if (!dropped) {
#pragma omp simd
    for (int64_t j = 0; j < T; ++j) store(probs, j, tmp[j] * inv);
    return;
  }
#pragma omp simd
  for (int64_t j = 0; j < T; ++j) {
    const float pr = round_to(probs, tmp[j] * inv);
    store(probs, j, pr);
    store(dropped, j, pr * dh::factor(key, first + j, threshold, scale));
  }
}

// Backward of one row (quoting forward_row):
//   gP = keep ? gD·scale : 0;  gS = masked ? 0 : P·(gP − Σ gP·P)
template <typename S>
inline __attribute__((always_inline)) void backward_row(const S* grad, const S* probs, const uint8_t* masked, S* out,
                                                        int64_t T, uint64_t first, uint64_t key,
                                                        uint32_t threshold, float scale, float* tmp) {
  float dot = 0.f;
#pragma omp simd reduction(+ : dot)
  for (int64_t j = 0; j < T; ++j) {
    const float g = load(grad, j) * dh::factor(key, first + j, threshold, scale);
    tmp[j] = g;
    dot += g * load(probs, j);
  }
#pragma omp simd
  for (int64_t j = 0; j < T; ++j) {
    const float v = load(probs, j) * (tmp[j] - dot);
    store(out, j, masked[j] ? 0.f : v);
  }
}

LORA_TRAIN_CLONES void forward_row_f32(const float* s, const uint8_t* m, float* p, float* d, int64_t T, float lowest,
                                 uint64_t first, uint64_t key, uint32_t th, float scale, float* tmp) {
  forward_row(s, m, p, d, T, lowest, first, key, th, scale, tmp);
}
LORA_TRAIN_CLONES void forward_row_bf16(const uint16_t* s, const uint8_t* m, uint16_t* p, uint16_t* d, int64_t T, float lowest,
                                  uint64_t first, uint64_t key, uint32_t th, float scale, float* tmp) {
  forward_row(s, m, p, d, T, lowest, first, key, th, scale, tmp);
}
LORA_TRAIN_CLONES void backward_row_f32(const float* g, const float* p, const uint8_t* m, float* o, int64_t T,
                                  uint64_t first, uint64_t key, uint32_t th, float scale, float* tmp) {
  backward_row(g, p, m, o, T, first, key, th, scale, tmp);
}
LORA_TRAIN_CLONES void backward_row_bf16(const uint16_t* g, const uint16_t* p, const uint8_t* m, uint16_t* o, int64_t T,
                                   uint64_t first, uint64_t key, uint32_t th, float scale, float* tmp) {
  backward_row(g, p, m, o, T, first, key, th, scale, tmp);
}

struct Geometry {
  int64_t rows_per_batch;  // H·T rows share one key mask
  int64_t T;
};

// Runs fn(row, tmp) over all rows in parallel, each thread with a T-float scratch row.
template <typename Fn>
void for_rows(int64_t rows, int64_t T, const Fn& fn) {
  at::parallel_for(0, rows, std::max<int64_t>(1, 4096 / T), [&](int64_t begin, int64_t end) {
    std::vector<float> tmp(static_cast<size_t>(T));
    for (int64_t r = begin; r < end; ++r) fn(r, tmp.data());
  });
}

struct MaskedSoftmaxDropout : public torch::autograd::Function<MaskedSoftmaxDropout> {
  static variable_list forward(AutogradContext* ctx, const at::Tensor& scores, const at::Tensor& masked, double p,
                               int64_t key) {
    const int64_t B = scores.size(0), T = scores.size(-1), rows = scores.numel() / T;
    const bool drop = p > 0.0;
    const uint32_t threshold = drop ? dh::drop_threshold(p) : 0;  // without dropout every factor is 1
    const float scale = drop ? static_cast<float>(1.0 / (1.0 - p)) : 1.f;
    const bool bf16 = scores.scalar_type() == at::kBFloat16;
    const float lowest = bf16 ? -3.38953139e38f : std::numeric_limits<float>::lowest();
    at::Tensor probs = at::empty_like(scores);
    at::Tensor dropped = drop ? at::empty_like(scores) : probs;
    const Geometry g{rows / B, T};
    const auto* m = masked.data_ptr<uint8_t>();
    const auto k = static_cast<uint64_t>(key);
    if (bf16) {
      const auto* s = static_cast<const uint16_t*>(scores.data_ptr());
      auto* pp = static_cast<uint16_t*>(probs.data_ptr());
      auto* pd = drop ? static_cast<uint16_t*>(dropped.data_ptr()) : nullptr;
      for_rows(rows, T, [&](int64_t r, float* tmp) {
        forward_row_bf16(s + r * T, m + (r / g.rows_per_batch) * T, pp + r * T, pd ? pd + r * T : nullptr, T, lowest,
                         static_cast<uint64_t>(r * T), k, threshold, scale, tmp);
      });
    } else {
      const float* s = scores.data_ptr<float>();
      float* pp = probs.data_ptr<float>();
      float* pd = drop ? dropped.data_ptr<float>() : nullptr;
      for_rows(rows, T, [&](int64_t r, float* tmp) {
        forward_row_f32(s + r * T, m + (r / g.rows_per_batch) * T, pp + r * T, pd ? pd + r * T : nullptr, T, lowest,
                        static_cast<uint64_t>(r * T), k, threshold, scale, tmp);
      });
    }
    ctx->saved_data["p"] = p;
    ctx->saved_data["key"] = key;
    ctx->save_for_backward({probs, masked});
    ctx->mark_non_differentiable({masked});
    return {dropped};
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor& probs = saved[0];
    const at::Tensor& masked = saved[1];
    const double p = ctx->saved_data["p"].toDouble();
    const auto key = static_cast<uint64_t>(ctx->saved_data["key"].toInt());
    const bool drop = p > 0.0;
    const uint32_t threshold = drop ? dh::drop_threshold(p) : 0;
    const float scale = drop ? static_cast<float>(1.0 / (1.0 - p)) : 1.f;
    at::Tensor grad = grads[0].to(probs.scalar_type()).contiguous();
    const int64_t B = probs.size(0), T = probs.size(-1), rows = probs.numel() / T;
    const Geometry g{rows / B, T};
    at::Tensor out = at::empty_like(probs);
    const auto* m = masked.data_ptr<uint8_t>();
    if (probs.scalar_type() == at::kBFloat16) {
      const auto* gd = static_cast<const uint16_t*>(grad.data_ptr());
      const auto* pp = static_cast<const uint16_t*>(probs.data_ptr());
      auto* po = static_cast<uint16_t*>(out.data_ptr());
      for_rows(rows, T, [&](int64_t r, float* tmp) {
        backward_row_bf16(gd + r * T, pp + r * T, m + (r / g.rows_per_batch) * T, po + r * T, T,
                          static_cast<uint64_t>(r * T), key, threshold, scale, tmp);
      });
    } else {
      const float* gd = grad.data_ptr<float>();
      const float* pp = probs.data_ptr<float>();
      float* po = out.data_ptr<float>();
      for_rows(rows, T, [&](int64_t r, float* tmp) {
        backward_row_f32(gd + r * T, pp + r * T, m + (r / g.rows_per_batch) * T, po + r * T, T,
                         static_cast<uint64_t>(r * T), key, threshold, scale, tmp);
      });
    }
    return {out, at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

// --- residual + dropout + LayerNorm ---

// z = r + keep·y·scale; out = (z − mean)·rstd·w + b. Writes z (saved for backward), out, out16.
template <typename Y>
inline __attribute__((always_inline)) void ln_forward_row(const Y* y, const float* r, const float* w, const float* b,
                                                          float* z, float* out, uint16_t* out16, float* stats, int64_t C,
                                                          float eps, uint64_t first, uint64_t key,
                                                          uint32_t threshold, float scale) {
  float sum = 0.f;
#pragma omp simd reduction(+ : sum)
  for (int64_t c = 0; c < C; ++c) {
    const float yc = load(y, c) * dh::factor(key, first + c, threshold, scale);
    const float v = r[c] + yc;
    z[c] = v;
    sum += v;
  }
  const float mean = sum / static_cast<float>(C);
  float sq = 0.f;
#pragma omp simd reduction(+ : sq)
  for (int64_t c = 0; c < C; ++c) sq += (z[c] - mean) * (z[c] - mean);
  const float rstd = 1.f / std::sqrt(sq / static_cast<float>(C) + eps);
  stats[0] = mean;
  stats[1] = rstd;
#pragma omp simd
  for (int64_t c = 0; c < C; ++c) out[c] = (z[c] - mean) * rstd * w[c] + b[c];
  if (out16) {
#pragma omp simd
    for (int64_t c = 0; c < C; ++c) out16[c] = dh::float_to_bf16(out[c]);
  }
}

// Backward of ln_forward_row, with g = grad(out) + grad(out16):
//   x̂ = (z − mean)·rstd;  gx̂ = g·w;  gz = rstd·(gx̂ − mean(gx̂) − x̂·mean(gx̂·x̂))
//   grad r = gz;  grad y = keep·gz·scale;  grad w += g·x̂;  grad b += g
template <typename Y>
inline __attribute__((always_inline)) void ln_backward_row(const float* g, const uint16_t* g16, const float* z,
                                                           const float* stats, const float* w, float* gr, Y* gy,
                                                           float* gw, float* gb, int64_t C, uint64_t first,
                                                           uint64_t key, uint32_t threshold, float scale) {
  const float mean = stats[0], rstd = stats[1];
  // g into gr first (either gradient may be absent), then the row sums.
  if (g && g16) {
#pragma omp simd
    for (int64_t c = 0; c < C; ++c) gr[c] = g[c] + dh::bf16_to_float(g16[c]);
  } else if (g16) {
#pragma omp simd
    for (int64_t c = 0; c < C; ++c) gr[c] = dh::bf16_to_float(g16[c]);
  } else if (g) {
#pragma omp simd
    for (int64_t c = 0; c < C; ++c) gr[c] = g[c];
  } else {
#pragma omp simd
    for (int64_t c = 0; c < C; ++c) gr[c] = 0.f;
  }
  if (gw) {
#pragma omp simd
    for (int64_t c = 0; c < C; ++c) {
      gw[c] += gr[c] * (z[c] - mean) * rstd;
      gb[c] += gr[c];
    }
  }
  float a = 0.f, bsum = 0.f;
#pragma omp simd reduction(+ : a, bsum)
  for (int64_t c = 0; c < C; ++c) {
    const float gxh = gr[c] * w[c];
    a += gxh;
    bsum += gxh * (z[c] - mean) * rstd;
    gr[c] = gxh;  // gx̂ for now
  }
  a /= static_cast<float>(C);
  bsum /= static_cast<float>(C);
#pragma omp simd
  for (int64_t c = 0; c < C; ++c) {
    const float xh = (z[c] - mean) * rstd;
    const float gz = rstd * (gr[c] - a - xh * bsum);
    gr[c] = gz;
    store(gy, c, gz * dh::factor(key, first + c, threshold, scale));
  }
}

LORA_TRAIN_CLONES void ln_forward_f32(const float* y, const float* r, const float* w, const float* b, float* z, float* out,
                                uint16_t* out16, float* stats, int64_t C, float eps, uint64_t first,
                                uint64_t key, uint32_t th, float scale) {
  ln_forward_row(y, r, w, b, z, out, out16, stats, C, eps, first, key, th, scale);
}
LORA_TRAIN_CLONES void ln_forward_bf16(const uint16_t* y, const float* r, const float* w, const float* b, float* z, float* out,
                                 uint16_t* out16, float* stats, int64_t C, float eps, uint64_t first,
                                 uint64_t key, uint32_t th, float scale) {
  ln_forward_row(y, r, w, b, z, out, out16, stats, C, eps, first, key, th, scale);
}
LORA_TRAIN_CLONES void ln_backward_f32(const float* g, const uint16_t* g16, const float* z, const float* stats, const float* w,
                                 float* gr, float* gy, float* gw, float* gb, int64_t C, uint64_t first,
                                 uint64_t key, uint32_t th, float scale) {
  ln_backward_row(g, g16, z, stats, w, gr, gy, gw, gb, C, first, key, th, scale);
}
LORA_TRAIN_CLONES void ln_backward_bf16(const float* g, const uint16_t* g16, const float* z, const float* stats,
                                  const float* w, float* gr, uint16_t* gy, float* gw, float* gb, int64_t C,
                                  uint64_t first, uint64_t key, uint32_t th, float scale) {
  ln_backward_row(g, g16, z, stats, w, gr, gy, gw, gb, C, first, key, th, scale);
}

struct ResidualDropoutLayerNorm : public torch::autograd::Function<ResidualDropoutLayerNorm> {
  static variable_list forward(AutogradContext* ctx, const at::Tensor& y, const at::Tensor& residual,
                               const at::Tensor& weight, const at::Tensor& bias, double eps, double p, int64_t key,
                               bool bf16_copy) {
    const int64_t C = y.size(-1), rows = y.numel() / C;
    const bool drop = p > 0.0;
    const uint32_t threshold = drop ? dh::drop_threshold(p) : 0;
    const float scale = drop ? static_cast<float>(1.0 / (1.0 - p)) : 1.f;
    const auto k = static_cast<uint64_t>(key);
    at::Tensor z = at::empty(residual.sizes(), residual.options());
    at::Tensor out = at::empty_like(z);
    at::Tensor out16 = bf16_copy ? at::empty(z.sizes(), z.options().dtype(at::kBFloat16)) : at::Tensor();
    at::Tensor stats = at::empty({rows, 2}, z.options());
    const float* pr = residual.data_ptr<float>();
    const float* pw = weight.data_ptr<float>();
    const float* pb = bias.data_ptr<float>();
    float* pz = z.data_ptr<float>();
    float* po = out.data_ptr<float>();
    auto* p16 = bf16_copy ? static_cast<uint16_t*>(out16.data_ptr()) : nullptr;
    float* ps = stats.data_ptr<float>();
    const bool half = y.scalar_type() == at::kBFloat16;
    const void* py = y.data_ptr();
    at::parallel_for(0, rows, 16, [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) {
        const int64_t o = r * C;
        if (half)
          ln_forward_bf16(static_cast<const uint16_t*>(py) + o, pr + o, pw, pb, pz + o, po + o, p16 ? p16 + o : nullptr,
                          ps + 2 * r, C, static_cast<float>(eps), static_cast<uint64_t>(o), k, threshold, scale);
        else
          ln_forward_f32(static_cast<const float*>(py) + o, pr + o, pw, pb, pz + o, po + o, p16 ? p16 + o : nullptr,
                         ps + 2 * r, C, static_cast<float>(eps), static_cast<uint64_t>(o), k, threshold, scale);
      }
    });
    ctx->saved_data["p"] = p;
    ctx->saved_data["key"] = key;
    ctx->saved_data["y_dtype"] = static_cast<int64_t>(y.scalar_type());
    ctx->saved_data["param_grads"] = weight.requires_grad() || bias.requires_grad();
    ctx->save_for_backward({z, stats, weight});
    if (!bf16_copy) return {out};
    return {out, out16};
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor& z = saved[0];
    const at::Tensor& stats = saved[1];
    const at::Tensor& weight = saved[2];
    const double p = ctx->saved_data["p"].toDouble();
    const auto key = static_cast<uint64_t>(ctx->saved_data["key"].toInt());
    const auto y_dtype = static_cast<at::ScalarType>(ctx->saved_data["y_dtype"].toInt());
    const bool param_grads = ctx->saved_data["param_grads"].toBool();
    const bool drop = p > 0.0;
    const uint32_t threshold = drop ? dh::drop_threshold(p) : 0;
    const float scale = drop ? static_cast<float>(1.0 / (1.0 - p)) : 1.f;
    at::Tensor g = grads[0].defined() ? grads[0].to(at::kFloat).contiguous() : at::Tensor();
    at::Tensor g16 = grads.size() > 1 && grads[1].defined() ? grads[1].to(at::kBFloat16).contiguous() : at::Tensor();
    const int64_t C = z.size(-1), rows = z.numel() / C;
    at::Tensor grad_r = at::empty_like(z);
    at::Tensor grad_y = at::empty(z.sizes(), z.options().dtype(y_dtype));
    // Per-thread partial sums of the weight and bias gradients, added up after.
    const int64_t threads = at::get_num_threads();
    at::Tensor partial = param_grads ? at::zeros({threads, 2, C}, z.options()) : at::Tensor();
    const float* pg = g.defined() ? g.data_ptr<float>() : nullptr;
    const auto* pg16 = g16.defined() ? static_cast<const uint16_t*>(g16.data_ptr()) : nullptr;
    const float* pz = z.data_ptr<float>();
    const float* ps = stats.data_ptr<float>();
    const float* pw = weight.data_ptr<float>();
    float* pr = grad_r.data_ptr<float>();
    void* py = grad_y.data_ptr();
    float* ppart = param_grads ? partial.data_ptr<float>() : nullptr;
    at::parallel_for(0, rows, 16, [&](int64_t begin, int64_t end) {
      const int64_t t = at::get_thread_num();
      TORCH_INTERNAL_ASSERT(t < threads);
      float* gw = ppart ? ppart + t * 2 * C : nullptr;
      float* gb = ppart ? gw + C : nullptr;
      for (int64_t r = begin; r < end; ++r) {
        const int64_t o = r * C;
        if (y_dtype == at::kBFloat16)
          ln_backward_bf16(pg ? pg + o : nullptr, pg16 ? pg16 + o : nullptr, pz + o, ps + 2 * r, pw, pr + o,
                           static_cast<uint16_t*>(py) + o, gw, gb, C, static_cast<uint64_t>(o), key, threshold, scale);
        else
          ln_backward_f32(pg ? pg + o : nullptr, pg16 ? pg16 + o : nullptr, pz + o, ps + 2 * r, pw, pr + o,
                          static_cast<float*>(py) + o, gw, gb, C, static_cast<uint64_t>(o), key, threshold, scale);
      }
    });
    at::Tensor grad_w, grad_b;
    if (param_grads) {
      at::Tensor sums = partial.sum(0);
      grad_w = sums[0];
      grad_b = sums[1];
    }
    return {grad_y, grad_r, grad_w, grad_b, at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

// --- bias + GELU ---

// erf(x), Abramowitz-Stegun 7.1.26: 1 − (a1 t + … + a5 t⁵)·e^(−x²), t = 1/(1 + p|x|); |error| < 1.5e-7.
// `exp_neg_x2` = e^(−x²) is passed in: GELU's backward needs it too.
inline float erf_as(float x, float exp_neg_x2) {
  const float ax = x < 0.f ? -x : x;
  const float t = 1.f / (1.f + 0.3275911f * ax);
  float poly = 1.061405429f;
  poly = poly * t - 1.453152027f;
  poly = poly * t + 1.421413741f;
  poly = poly * t - 0.284496736f;
  poly = poly * t + 0.254829592f;
  const float e = 1.f - poly * t * exp_neg_x2;
  return x < 0.f ? -e : e;
}

constexpr float kSqrtHalf = 0.70710678118654752f;
constexpr float kInvSqrt2Pi = 0.39894228040143268f;

// u = y + b;  out = ½·u·(1 + erf(u/√2))
template <typename Y>
inline __attribute__((always_inline)) void gelu_forward_row(const Y* y, const float* b, Y* out, int64_t F) {
#pragma omp simd
  for (int64_t f = 0; f < F; ++f) {
    const float u = load(y, f) + b[f];
    store(out, f, 0.5f * u * (1.f + erf_as(u * kSqrtHalf, exp_nonpositive(-0.5f * u * u))));
  }
}

// Backward of gelu_forward_row: grad u = g·(½(1 + erf(u/√2)) + u·e^(−u²/2)/√(2π)) (= grad y = grad b per row)
template <typename Y>
inline __attribute__((always_inline)) void gelu_backward_row(const Y* g, const Y* y, const float* b, Y* out, int64_t F) {
#pragma omp simd
  for (int64_t f = 0; f < F; ++f) {
    const float u = load(y, f) + b[f];
    const float e = exp_nonpositive(-0.5f * u * u);  // e^(−u²/2) = e^(−(u/√2)²)
    const float cdf = 0.5f * (1.f + erf_as(u * kSqrtHalf, e));
    const float pdf = kInvSqrt2Pi * e;
    store(out, f, load(g, f) * (cdf + u * pdf));
  }
}

LORA_TRAIN_CLONES void gelu_forward_f32(const float* y, const float* b, float* out, int64_t F) {
  gelu_forward_row(y, b, out, F);
}
LORA_TRAIN_CLONES void gelu_forward_bf16(const uint16_t* y, const float* b, uint16_t* out, int64_t F) {
  gelu_forward_row(y, b, out, F);
}
LORA_TRAIN_CLONES void gelu_backward_f32(const float* g, const float* y, const float* b, float* out, int64_t F) {
  gelu_backward_row(g, y, b, out, F);
}
LORA_TRAIN_CLONES void gelu_backward_bf16(const uint16_t* g, const uint16_t* y, const float* b, uint16_t* out, int64_t F) {
  gelu_backward_row(g, y, b, out, F);
}

// Runs the row kernel over [rows, F] in parallel; `y16` picks the bf16 or fp32 clone.
template <typename F32, typename BF16>
void gelu_rows(int64_t rows, int64_t F, bool y16, const F32& f32, const BF16& bf16) {
  at::parallel_for(0, rows, std::max<int64_t>(1, 16384 / F), [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) y16 ? bf16(r * F) : f32(r * F);
  });
}

struct BiasGelu : public torch::autograd::Function<BiasGelu> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& y, const at::Tensor& bias) {
    const int64_t F = y.size(-1), rows = y.numel() / F;
    at::Tensor out = at::empty_like(y);
    const float* pb = bias.data_ptr<float>();
    const bool y16 = y.scalar_type() == at::kBFloat16;
    gelu_rows(rows, F, y16,
              [&](int64_t o) { gelu_forward_f32(y.data_ptr<float>() + o, pb, out.data_ptr<float>() + o, F); },
              [&](int64_t o) {
                gelu_forward_bf16(static_cast<const uint16_t*>(y.data_ptr()) + o, pb, static_cast<uint16_t*>(out.data_ptr()) + o, F);
              });
    ctx->saved_data["bias_grad"] = bias.requires_grad();
    ctx->save_for_backward({y, bias});
    return out;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor& y = saved[0];
    const at::Tensor& bias = saved[1];
    at::Tensor g = grads[0].to(y.scalar_type()).contiguous();
    const int64_t F = y.size(-1), rows = y.numel() / F;
    at::Tensor grad_y = at::empty_like(y);
    const float* pb = bias.data_ptr<float>();
    const bool y16 = y.scalar_type() == at::kBFloat16;
    gelu_rows(rows, F, y16,
              [&](int64_t o) {
                gelu_backward_f32(g.data_ptr<float>() + o, y.data_ptr<float>() + o, pb, grad_y.data_ptr<float>() + o, F);
              },
              [&](int64_t o) {
                gelu_backward_bf16(static_cast<const uint16_t*>(g.data_ptr()) + o, static_cast<const uint16_t*>(y.data_ptr()) + o,
                                   pb, static_cast<uint16_t*>(grad_y.data_ptr()) + o, F);
              });
    // y + b: the bias gradient is grad u summed over rows.
    at::Tensor grad_b = ctx->saved_data["bias_grad"].toBool() ? grad_y.reshape({-1, F}).sum(0, false, at::kFloat) : at::Tensor();
    return {grad_y, grad_b};
  }
};

}  // namespace

at::Tensor masked_softmax_dropout(const at::Tensor& scores, const at::Tensor& key_mask, double p,
                                  const c10::optional<at::Generator>& generator) {
  TORCH_INTERNAL_ASSERT(scores.is_cpu() && scores.dim() == 4 && scores.size(2) >= 1);
  TORCH_INTERNAL_ASSERT(scores.scalar_type() == at::kFloat || scores.scalar_type() == at::kBFloat16);
  const int64_t B = scores.size(0), T = scores.size(3);
  TORCH_INTERNAL_ASSERT(key_mask.numel() == B * T && key_mask.scalar_type() == at::kBool);
  TORCH_INTERNAL_ASSERT(p >= 0.0 && p < 1.0);
  const uint64_t key = p > 0.0 ? draw_dropout_key(generator.has_value() ? *generator : at::detail::getDefaultCPUGenerator()) : 0;
  // bool and uint8 share a layout; the kernel reads the mask as bytes.
  at::Tensor masked = key_mask.reshape({B, T}).contiguous().view(at::kByte);
  return MaskedSoftmaxDropout::apply(scores.contiguous(), masked, p, static_cast<int64_t>(key))[0];
}

}  // namespace lora

namespace lora {

std::pair<at::Tensor, at::Tensor> residual_dropout_layer_norm(const at::Tensor& y, const at::Tensor& residual,
                                                              const at::Tensor& weight, const at::Tensor& bias,
                                                              double eps, double p,
                                                              const c10::optional<at::Generator>& generator,
                                                              bool bf16_copy) {
  TORCH_INTERNAL_ASSERT(y.is_cpu() && residual.is_cpu() && residual.scalar_type() == at::kFloat);
  TORCH_INTERNAL_ASSERT(y.scalar_type() == at::kFloat || y.scalar_type() == at::kBFloat16);
  TORCH_INTERNAL_ASSERT(y.sizes().equals(residual.sizes()) && weight.numel() == y.size(-1) && bias.numel() == y.size(-1));
  TORCH_INTERNAL_ASSERT(p >= 0.0 && p < 1.0);
  const uint64_t key = p > 0.0 ? draw_dropout_key(generator.has_value() ? *generator : at::detail::getDefaultCPUGenerator()) : 0;
  variable_list out = ResidualDropoutLayerNorm::apply(y.contiguous(), residual.contiguous(), weight.contiguous(),
                                                      bias.contiguous(), eps, p, static_cast<int64_t>(key), bf16_copy);
  return {out[0], bf16_copy ? out[1] : at::Tensor()};
}

}  // namespace lora

namespace lora {

at::Tensor bias_gelu(const at::Tensor& y, const at::Tensor& bias) {
  TORCH_INTERNAL_ASSERT(y.is_cpu() && (y.scalar_type() == at::kFloat || y.scalar_type() == at::kBFloat16));
  TORCH_INTERNAL_ASSERT(bias.scalar_type() == at::kFloat && bias.numel() == y.size(-1));
  return BiasGelu::apply(y.contiguous(), bias.contiguous());
}

}  // namespace lora
