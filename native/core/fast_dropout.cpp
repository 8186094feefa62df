#include "core/fast_dropout.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>
#include <torch/csrc/autograd/custom_function.h>

#include <mutex>

#include "core/dropout_hash.h"

namespace lora {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;
namespace dh = dropout_hash;

// Elements [first, first + n) of the call: out = x · (keep ? scale : 0), as torch's x · mask / (1 − p).
LORA_TRAIN_CLONES void chunk_f32(const float* x, float* out, int64_t first,
                                                                          int64_t n, uint64_t key, uint32_t threshold,
                                                                          float scale) {
#pragma omp simd
  for (int64_t k = 0; k < n; ++k) out[k] = x[k] * dh::factor(key, static_cast<uint64_t>(first + k), threshold, scale);
}

LORA_TRAIN_CLONES void chunk_bf16(const uint16_t* x, uint16_t* out,
                                                                           int64_t first, int64_t n, uint64_t key,
                                                                           uint32_t threshold, float scale) {
#pragma omp simd
  for (int64_t k = 0; k < n; ++k) {
    out[k] = dh::float_to_bf16(dh::bf16_to_float(x[k]) * dh::factor(key, static_cast<uint64_t>(first + k), threshold, scale));
  }
}

// forward: y = dropout(x); backward quotes it: grad_x = dropout(grad_y) with the same key.
struct KeyedDropout : public torch::autograd::Function<KeyedDropout> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, double p, int64_t key) {
    ctx->saved_data["p"] = p;
    ctx->saved_data["key"] = key;
    at::Tensor xc = x.contiguous();
    at::Tensor out = at::empty_like(xc);
    keyed_dropout_kernel(xc, out, p, static_cast<uint64_t>(key));
    return out;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    at::Tensor g = grads[0].contiguous();
    at::Tensor out = at::empty_like(g);
    keyed_dropout_kernel(g, out, ctx->saved_data["p"].toDouble(), static_cast<uint64_t>(ctx->saved_data["key"].toInt()));
    return {out, at::Tensor(), at::Tensor()};
  }
};

}  // namespace

uint64_t draw_dropout_key(at::Generator generator) {
  std::lock_guard<std::mutex> lock(generator.mutex());
  return at::check_generator<at::CPUGeneratorImpl>(generator)->random64();
}

void keyed_dropout_kernel(const at::Tensor& x, at::Tensor& out, double p, uint64_t key) {
  TORCH_INTERNAL_ASSERT(x.is_cpu() && x.is_contiguous() && out.is_contiguous() && out.numel() == x.numel());
  TORCH_INTERNAL_ASSERT(x.scalar_type() == out.scalar_type());
  TORCH_INTERNAL_ASSERT(p > 0.0 && p < 1.0);
  const uint32_t threshold = dh::drop_threshold(p);
  const float scale = static_cast<float>(1.0 / (1.0 - p));
  const int64_t n = x.numel();
  if (x.scalar_type() == at::kFloat) {
    const float* px = x.data_ptr<float>();
    float* po = out.data_ptr<float>();
    at::parallel_for(0, n, 1 << 15, [&](int64_t begin, int64_t end) {
      chunk_f32(px + begin, po + begin, begin, end - begin, key, threshold, scale);
    });
  } else {
    TORCH_INTERNAL_ASSERT(x.scalar_type() == at::kBFloat16);
    const auto* px = static_cast<const uint16_t*>(x.data_ptr());
    auto* po = static_cast<uint16_t*>(out.data_ptr());
    at::parallel_for(0, n, 1 << 15, [&](int64_t begin, int64_t end) {
      chunk_bf16(px + begin, po + begin, begin, end - begin, key, threshold, scale);
    });
  }
}

at::Tensor keyed_dropout(const at::Tensor& x, double p, uint64_t key) {
  return KeyedDropout::apply(x, p, static_cast<int64_t>(key));
}

}  // namespace lora
