// Ordinal (CORAL) objective: Cao, Mirjalili & Raschka, "Rank consistent ordinal
// regression for neural networks" (2020), as coral-pytorch implements it:
//   logits[b, k] = s[b] + thresholds[k]          k = 0..K-2
//   P(y > k)     = sigmoid(logits[b, k])
//   loss         = mean_b  sum_k  BCE(logits[b, k], 1[y_b > k])
// (coral_pytorch.losses.coral_loss with reduction='mean').
#pragma once

#include <ATen/core/Tensor.h>

namespace lora {

// logits float [B, K-1]; labels int64 class ids [B] in [0, K). Checked (ERR_INVALID_ARGUMENT).
at::Tensor coral_loss(const at::Tensor& logits, const at::Tensor& labels);

// coral_pytorch's CoralLayer initial thresholds: (K-1, K-2, ..., 1) / (K-1).
at::Tensor coral_initial_thresholds(int64_t num_classes);

}  // namespace lora
