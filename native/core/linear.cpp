#include "core/linear.h"

#include <ATen/ATen.h>

namespace lora {

void Linear::set_precision(Precision p) {
  compute = compute_dtype(p);
  weight_lowp = at::Tensor();
  bias_lowp = at::Tensor();
  if (compute == at::kFloat || weight.requires_grad()) return;
  weight_lowp = weight.to(compute).contiguous();
  if (bias.defined() && !bias.requires_grad()) bias_lowp = bias.to(compute);
}

at::Tensor Linear::base_forward(const at::Tensor& x) const {
  if (compute == at::kFloat) return at::linear(x.to(at::kFloat), weight, bias);
  at::Tensor w = weight_lowp.defined() ? weight_lowp : weight.to(compute);
  at::Tensor b = bias_lowp.defined() ? bias_lowp : (bias.defined() ? bias.to(compute) : at::Tensor());
  return at::linear(x.to(compute), w, b);
}

at::Tensor Linear::forward(const at::Tensor& x, const ForwardContext& ctx) const {
  at::Tensor y = base_forward(x);
  if (!lora || lora->merged) return y;
  return y + lora->delta(x, ctx.train, ctx.generator).to(y.scalar_type());
}

}  // namespace lora
