// Fused training kernels for the CPU (forward with a hand-written backward),
// each replacing a chain of ATen ops that would read and write the tensor once
// per op. Shapes as in distilbert.h: B batch, H heads, T tokens.
#pragma once

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>

#include <c10/util/Optional.h>

#include <utility>

namespace lora {

// dropout(softmax(scores.masked_fill(key_mask, lowest)), p) in one pass per row,
// where lowest is the scores dtype's minimum (transformers' finfo(dtype).min).
// scores: [B, H, T, T] fp32 or bf16 on the CPU; key_mask: bool [B, 1, 1, T],
// true = padding key. The softmax runs in fp32 and is rounded to the scores
// dtype (as ATen's bf16 softmax); the dropout mask is keyed_dropout's (key
// drawn from `generator` when p > 0). Differentiable in scores.
at::Tensor masked_softmax_dropout(const at::Tensor& scores, const at::Tensor& key_mask, double p,
                                  const c10::optional<at::Generator>& generator);

}  // namespace lora

namespace lora {

// Post-LN residual for training, one pass per row each way:
//   z = residual + dropout(y, p);  out = LayerNorm(z) · weight + bias  (eps, biased variance)
// y: [N.., C] fp32 or bf16 (the sublayer's output, bias included); residual, weight, bias: fp32.
// Returns {out fp32, out rounded to bf16} (the second undefined unless `bf16_copy`),
// so the next matmul needs no conversion pass; the gradients of both outputs are
// summed in backward. Differentiable in y, residual, weight and bias.
std::pair<at::Tensor, at::Tensor> residual_dropout_layer_norm(const at::Tensor& y, const at::Tensor& residual,
                                                              const at::Tensor& weight, const at::Tensor& bias,
                                                              double eps, double p,
                                                              const c10::optional<at::Generator>& generator,
                                                              bool bf16_copy);

}  // namespace lora

namespace lora {

// out = GELU(y + bias), exact (erf) GELU, for training: one pass forward, one
// backward (instead of a bias add, gelu and gelu_backward). y: [..., F] fp32 or
// bf16 on the CPU (a matmul's output without its bias); bias: fp32 [F].
// erf by Abramowitz-Stegun 7.1.26 (|error| < 1.5e-7). Differentiable in y and bias.
at::Tensor bias_gelu(const at::Tensor& y, const at::Tensor& bias);

}  // namespace lora
