#include "core/quantized_linear.h"

#include <ATen/ATen.h>
#include <torch/csrc/autograd/custom_function.h>

namespace lora {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// code·absmax rounded to the quant_state dtype (as bitsandbytes returns it), then
// in the compute dtype on the input's device.
at::Tensor dequantized(const Quantized4bit& q, at::ScalarType compute, const at::Device& device) {
  at::Tensor w = dequantize_4bit(q, q.dtype);
  return w.to(device, compute);
}

// Autograd for the linear over a dequantized weight that is not saved:
// backward dequantizes again (grad_x = grad_y · W).
struct DequantizeLinear : public torch::autograd::Function<DequantizeLinear> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& bias, const Quantized4bit* q,
                            at::ScalarType compute) {
    ctx->saved_data["q"] = static_cast<int64_t>(reinterpret_cast<intptr_t>(q));
    ctx->saved_data["compute"] = static_cast<int64_t>(compute);
    ctx->saved_data["has_bias"] = bias.defined();
    at::Tensor w = dequantized(*q, compute, x.device());                 // [out, in]
    at::Tensor b = bias.defined() ? bias.to(compute) : at::Tensor();
    return at::linear(x.to(compute), w, b);                              // [..., out]
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto* q = reinterpret_cast<const Quantized4bit*>(static_cast<intptr_t>(ctx->saved_data["q"].toInt()));
    const auto compute = static_cast<at::ScalarType>(ctx->saved_data["compute"].toInt());
    const at::Tensor& grad_y = grads[0];                                 // [..., out]
    // y = x Wᵀ + b  =>  grad_x = grad_y W,  grad_b = Σ grad_y
    at::Tensor w = dequantized(*q, compute, grad_y.device());
    at::Tensor grad_x = at::matmul(grad_y.to(compute), w);
    at::Tensor grad_b;
    if (ctx->saved_data["has_bias"].toBool()) grad_b = grad_y.reshape({-1, grad_y.size(-1)}).sum(0);
    return {grad_x, grad_b, at::Tensor(), at::Tensor()};
  }
};

}  // namespace

at::Tensor quantized_linear(const at::Tensor& x, const Quantized4bit& q, const at::Tensor& bias, at::ScalarType compute) {
  return DequantizeLinear::apply(x, bias, &q, compute);
}

int64_t quantized_bytes(const Quantized4bit& q) {
  int64_t n = q.packed.numel() * q.packed.element_size() + q.absmax.numel() * q.absmax.element_size();
  if (q.double_quant()) n += q.nested_absmax.numel() * q.nested_absmax.element_size() + 4;
  return n;
}

}  // namespace lora
