// QLoRA's frozen base: y = x · dequant(W)ᵀ + b with W held only as packed
// 4-bit codes (quantize.h). The weight is dequantized per call in forward and
// again in backward for the input gradient; no dequantized copy outlives the
// call, and W gets no gradient.
#pragma once

#include <ATen/core/Tensor.h>

#include "core/quantize.h"

namespace lora {

// x: [..., in] -> [..., out] in `compute` (fp32, bf16 or fp16). `q` must outlive
// the autograd graph built from the result (it belongs to the model).
at::Tensor quantized_linear(const at::Tensor& x, const Quantized4bit& q, const at::Tensor& bias, at::ScalarType compute);

// Bytes held by the packed weight and its block statistics.
int64_t quantized_bytes(const Quantized4bit& q);

}  // namespace lora
