#include "core/linear.h"

#include <ATen/ATen.h>

namespace lora {

void Linear::set_precision(Precision p) {
  const auto dtype = compute_dtype(p);
  if (dtype == at::kFloat) {
    weight_lowp = at::Tensor();
    bias_lowp = at::Tensor();
    return;
  }
  weight_lowp = weight.to(dtype).contiguous();
  bias_lowp = bias.defined() ? bias.to(dtype) : at::Tensor();
}

at::Tensor Linear::forward(const at::Tensor& x) const {
  if (!weight_lowp.defined()) return at::linear(x, weight, bias);
  return at::linear(x.to(weight_lowp.scalar_type()), weight_lowp, bias_lowp);
}

}  // namespace lora
