// Inference fast path (no autograd): LayerNorm(x + y + b) in one pass per row,
// instead of a bias add, a dtype conversion, a residual add and a LayerNorm
// (four passes over [B·T, C]). fp32 arithmetic; eps as DistilBERT's 1e-12.
#pragma once

#include <ATen/core/Tensor.h>

namespace lora {

// x: fp32 [..., C] (the residual); y: fp32 or bf16 [..., C]; bias: fp32 [C] or
// undefined; weight, beta: fp32 [C]. CPU, contiguous. Returns fp32 [..., C].
// With `bf16_copy`, also writes the result rounded to bf16 there (the next
// matmul's input), saving that conversion its own pass.
at::Tensor residual_layer_norm(const at::Tensor& x, const at::Tensor& y, const at::Tensor& bias,
                               const at::Tensor& weight, const at::Tensor& beta, double eps,
                               at::Tensor* bf16_copy = nullptr);

}  // namespace lora
