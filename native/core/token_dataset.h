// Tokenized examples held natively: ragged token ids (no padding) and labels.
// Batches are padded to their own longest example, so short texts cost little.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

#include "core/risk_inputs.h"

namespace lora {

struct TokenBatchTensors {
  at::Tensor input_ids;       // int64 [B, T]
  at::Tensor attention_mask;  // int64 [B, T]
  at::Tensor labels;          // int64 [B] or float [B, K]
  RiskInputs risk;            // the examples' encoded features, when the dataset has them
};

class TokenDataset {
 public:
  // ids: all examples' token ids back to back; offsets: N + 1 ascending
  // positions into ids; labels: int64 [N] or float32 [N, K]. Checked (ERR_INVALID_ARGUMENT).
  TokenDataset(std::vector<int32_t> ids, std::vector<int64_t> offsets, at::Tensor labels, int64_t pad_token_id);

  int64_t size() const { return static_cast<int64_t>(offsets_.size()) - 1; }
  TokenBatchTensors batch(const std::vector<int64_t>& indices) const;
  // Encoded features, one row per example (risk_inputs.h); checked (ERR_INVALID_ARGUMENT).
  void set_risk_inputs(RiskInputs inputs);

 private:
  std::vector<int32_t> ids_;
  std::vector<int64_t> offsets_;
  at::Tensor labels_;
  int64_t pad_token_id_;
  RiskInputs risk_;
};

}  // namespace lora
