// y = x Wᵀ + b with HF's layout: weight [out, in], bias [out].
#pragma once

#include <ATen/core/Tensor.h>

#include "core/precision.h"

namespace lora {

struct Linear {
  at::Tensor weight;       // [out, in], fp32 master copy
  at::Tensor bias;         // [out] fp32, or undefined
  at::Tensor weight_lowp;  // weight in the compute dtype when it is not fp32
  at::Tensor bias_lowp;

  int64_t out_features() const { return weight.size(0); }
  int64_t in_features() const { return weight.size(1); }

  // Prepares the low-precision copies used by forward() for `p`.
  void set_precision(Precision p);
  // x: [..., in] in fp32 or the compute dtype -> [..., out] in the compute dtype.
  at::Tensor forward(const at::Tensor& x) const;
};

}  // namespace lora
