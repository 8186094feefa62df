#include "core/ordinal.h"

#include <ATen/ATen.h>

#include "core/errors.h"

namespace lora {

at::Tensor coral_loss(const at::Tensor& logits, const at::Tensor& labels) {
  const int64_t B = logits.size(0), T = logits.size(1);  // T = K - 1 cumulative tasks
  if (labels.dim() != 1 || labels.size(0) != B || at::isFloatingType(labels.scalar_type()))
    fail(code::kInvalidArgument, "Expected " + std::to_string(B) + " integer class ids as labels for the ordinal loss");
  at::Tensor ids = labels.to(logits.device(), at::kLong);
  if (ids.lt(0).any().item<bool>() || ids.gt(T).any().item<bool>())
    fail(code::kInvalidArgument, "Expected ordinal class ids in [0, " + std::to_string(T + 1) + ") as labels");
  // levels[b, k] = 1 when y_b > k (coral_pytorch.dataset.levels_from_labelbatch)
  at::Tensor ranks = at::arange(T, ids.options()).unsqueeze(0);       // [1, T]
  at::Tensor levels = ids.unsqueeze(1).gt(ranks).to(logits.scalar_type());  // [B, T]
  at::Tensor per_task = at::binary_cross_entropy_with_logits(logits, levels, at::Tensor(), at::Tensor(), at::Reduction::None);
  return per_task.sum(1).mean();
}

at::Tensor coral_initial_thresholds(int64_t num_classes) {
  if (num_classes < 2) fail(code::kInvalidArgument, "Expected at least 2 ordinal classes but received " + std::to_string(num_classes));
  return at::arange(num_classes - 1, 0, -1, at::kFloat) / static_cast<double>(num_classes - 1);
}

}  // namespace lora
