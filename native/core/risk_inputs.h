// Per-example inputs of the risk head beside the token ids (risk_head.h):
// tabular features already encoded in TypeScript (lib/features/).
#pragma once

#include <ATen/core/Tensor.h>

namespace lora {

struct RiskInputs {
  at::Tensor numeric;      // float [B, 2·Fnum]: standardised value, missing indicator per numeric feature
  at::Tensor categorical;  // int64 [B, Fcat]: category ids, 0 = unknown bucket
  bool given() const { return numeric.defined() || categorical.defined(); }
};

}  // namespace lora
