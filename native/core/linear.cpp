#include "core/linear.h"

#include <ATen/ATen.h>

#include "core/quantized_linear.h"

namespace lora {

void Linear::set_precision(Precision p) {
  compute = compute_dtype(p);
  weight_lowp = at::Tensor();
  bias_lowp = at::Tensor();
  if (compute == at::kFloat || quantized || weight.requires_grad()) return;
  weight_lowp = weight.to(compute).contiguous();
  if (bias.defined() && !bias.requires_grad()) bias_lowp = bias.to(compute);
}

at::Tensor Linear::float_weight() const {
  return quantized ? dequantize_4bit(*quantized, at::kFloat).to(bias.device()) : weight;
}

// x Wᵀ in the compute dtype, no bias (not for 4-bit weights).
at::Tensor Linear::matmul(const at::Tensor& x) const {
  if (compute == at::kFloat) return at::linear(x.to(at::kFloat), weight);
  return at::linear(x.to(compute), weight_lowp.defined() ? weight_lowp : weight.to(compute));
}

// x Wᵀ, then + b in place: libtorch 1.13's addmm (bias folded into the GEMM)
// runs the bf16 oneDNN path ~12% and the fp32 OpenBLAS path ~5% slower than a
// plain matmul followed by the add (measured on [4096,768]·[768,3072]).
at::Tensor Linear::base_forward(const at::Tensor& x) const {
  if (quantized) return quantized_linear(x, *quantized, bias_lowp.defined() ? bias_lowp : bias, compute);
  at::Tensor b = bias_lowp.defined() ? bias_lowp : bias;
  if (b.defined() && b.scalar_type() != compute) b = b.to(compute);  // a trainable bias, cast per call
  at::Tensor y = matmul(x);
  return b.defined() ? y.add_(b) : y;
}

at::Tensor Linear::forward_without_bias(const at::Tensor& x, const ForwardContext& ctx) const {
  at::Tensor y = matmul(x);
  if (!lora || lora->merged) return y;
  return y.add_(lora->delta(x.to(y.scalar_type()), ctx.train, ctx.generator));
}

at::Tensor Linear::forward(const at::Tensor& x, const ForwardContext& ctx) const {
  at::Tensor y = base_forward(x);
  if (!lora || lora->merged) return y;
  // The update runs in the base's compute dtype, as under autocast.
  return y + lora->delta(x.to(y.scalar_type()), ctx.train, ctx.generator);
}

}  // namespace lora
