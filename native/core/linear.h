// y = x Wᵀ + b with HF's layout: weight [out, in], bias [out], plus an
// optional LoRA adapter beside it (see lora.h).
#pragma once

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>

#include <memory>

#include "core/lora.h"
#include "core/precision.h"
#include "core/quantize.h"

namespace lora {

// Per-call state of a forward pass.
struct ForwardContext {
  bool train = false;                      // dropout active
  bool fused = false;                      // inference on the CPU: fused kernels without autograd
  bool grad = false;                       // building the autograd graph (training)
  c10::optional<at::Generator> generator;  // for dropout masks
};

struct Linear {
  at::Tensor weight;       // [out, in], fp32 master copy (undefined when quantized)
  at::Tensor bias;         // [out] fp32, or undefined
  at::Tensor weight_lowp;  // cached compute-dtype copy (frozen weights only)
  at::Tensor bias_lowp;
  c10::ScalarType compute = c10::kFloat;
  std::shared_ptr<LoraAdapter> lora;  // null when the module is not adapted
  // QLoRA: the frozen weight held as packed 4-bit codes only (quantized_linear.h).
  std::shared_ptr<Quantized4bit> quantized;
  std::shared_ptr<Quantized4bit> before_merge;  // the exact codes to restore on unmerge

  int64_t out_features() const { return quantized ? quantized->shape.at(0) : weight.size(0); }
  int64_t in_features() const { return quantized ? quantized->shape.at(1) : weight.size(1); }
  // The weight in fp32 (dequantized when quantized), for merging and saving.
  at::Tensor float_weight() const;

  // Sets the matmul dtype. A trainable weight is cast per call (so the cast is
  // differentiable and never stale); a frozen one keeps a cached copy.
  void set_precision(Precision p);
  // x Wᵀ (no bias, no LoRA) in the compute dtype; not for 4-bit weights.
  at::Tensor matmul(const at::Tensor& x) const;
  // x Wᵀ + b only: [..., in] -> [..., out] in the compute dtype.
  at::Tensor base_forward(const at::Tensor& x) const;
  // Base plus the LoRA update when present.
  at::Tensor forward(const at::Tensor& x, const ForwardContext& ctx) const;
  // x Wᵀ plus the LoRA update, without the bias (a fused kernel adds it). Not for 4-bit weights.
  at::Tensor forward_without_bias(const at::Tensor& x, const ForwardContext& ctx) const;
};

}  // namespace lora
