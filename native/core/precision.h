// Compute precision of the matmuls. Master weights are always fp32; bf16/fp16
// keep a low-precision copy of each linear weight for the matmuls only, and
// everything numerically delicate (LayerNorm, softmax, residual sums) stays fp32.
#pragma once

#include <c10/core/ScalarType.h>

#include <string>

namespace lora {

enum class Precision { FP32, BF16, FP16 };

inline c10::ScalarType compute_dtype(Precision p) {
  switch (p) {
    case Precision::BF16: return c10::kBFloat16;
    case Precision::FP16: return c10::kHalf;
    default: return c10::kFloat;
  }
}

inline const char* precision_name(Precision p) {
  switch (p) {
    case Precision::BF16: return "bf16";
    case Precision::FP16: return "fp16";
    default: return "fp32";
  }
}

}  // namespace lora
