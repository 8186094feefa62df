#include "core/token_dataset.h"

#include <ATen/ATen.h>

#include <algorithm>

#include "core/errors.h"

namespace lora {

TokenDataset::TokenDataset(std::vector<int32_t> ids, std::vector<int64_t> offsets, at::Tensor labels,
                           int64_t pad_token_id)
    : ids_(std::move(ids)), offsets_(std::move(offsets)), labels_(std::move(labels)), pad_token_id_(pad_token_id) {
  if (offsets_.size() < 2) fail(code::kInvalidArgument, "Expected at least one example in the dataset but received none");
  if (offsets_.front() != 0 || offsets_.back() != static_cast<int64_t>(ids_.size()))
    fail(code::kInvalidArgument, "Expected offsets from 0 to the number of token ids");
  for (size_t i = 1; i < offsets_.size(); ++i)
    if (offsets_[i] <= offsets_[i - 1])
      fail(code::kInvalidArgument, "Expected every example to have at least one token (example " + std::to_string(i - 1) + " has none)");
  if (!labels_.defined() || labels_.size(0) != size())
    fail(code::kInvalidArgument, "Expected one label row per example (" + std::to_string(size()) + ")");
}

TokenBatchTensors TokenDataset::batch(const std::vector<int64_t>& indices) const {
  const int64_t B = static_cast<int64_t>(indices.size());
  int64_t T = 0;
  for (int64_t i : indices) T = std::max(T, offsets_[i + 1] - offsets_[i]);
  TokenBatchTensors out;
  out.input_ids = at::full({B, T}, pad_token_id_, at::kLong);
  out.attention_mask = at::zeros({B, T}, at::kLong);
  auto ids = out.input_ids.accessor<int64_t, 2>();
  auto mask = out.attention_mask.accessor<int64_t, 2>();
  for (int64_t b = 0; b < B; ++b) {
    const int64_t start = offsets_[indices[b]], length = offsets_[indices[b] + 1] - start;
    for (int64_t t = 0; t < length; ++t) {
      ids[b][t] = ids_[start + t];
      mask[b][t] = 1;
    }
  }
  at::Tensor rows = at::tensor(indices, at::kLong);
  out.labels = labels_.index_select(0, rows);
  if (risk_.numeric.defined()) out.risk.numeric = risk_.numeric.index_select(0, rows);
  if (risk_.categorical.defined()) out.risk.categorical = risk_.categorical.index_select(0, rows);
  return out;
}

void TokenDataset::set_risk_inputs(RiskInputs inputs) {
  for (const at::Tensor* t : {&inputs.numeric, &inputs.categorical})
    if (t->defined() && (t->dim() != 2 || t->size(0) != size()))
      fail(code::kInvalidArgument, "Expected one feature row per example (" + std::to_string(size()) + ")");
  risk_ = std::move(inputs);
}

}  // namespace lora
