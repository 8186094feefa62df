#include "core/loss.h"

#include <ATen/ATen.h>

#include "core/errors.h"
#include "core/ordinal.h"

namespace lora {

LossKind loss_kind_for(const std::string& problem_type, int64_t num_labels, bool integer_labels) {
  if (problem_type == "regression") return LossKind::MeanSquaredError;
  if (problem_type == "single_label_classification") return LossKind::CrossEntropy;
  if (problem_type == "multi_label_classification") return LossKind::BinaryCrossEntropy;
  if (num_labels == 1) return LossKind::MeanSquaredError;
  return integer_labels ? LossKind::CrossEntropy : LossKind::BinaryCrossEntropy;
}

at::Tensor classification_loss(const at::Tensor& logits, const at::Tensor& labels, const LossOptions& options) {
  const int64_t B = logits.size(0), K = logits.size(1);
  switch (options.kind) {
    case LossKind::Ordinal:
      return coral_loss(logits, labels);
    case LossKind::CrossEntropy: {
      if (labels.dim() != 1 || labels.size(0) != B || at::isFloatingType(labels.scalar_type()))
        fail(code::kInvalidArgument, "Expected " + std::to_string(B) + " integer class ids as labels for cross-entropy");
      at::Tensor ids = labels.to(logits.device(), at::kLong);
      at::Tensor valid = ids.ne(-100);
      if ((ids.lt(0).logical_and(valid)).any().item<bool>() || ids.ge(K).any().item<bool>())
        fail(code::kInvalidArgument, "Expected class ids in [0, " + std::to_string(K) + ") or -100 (ignored) as labels");
      at::Tensor weight = options.class_weights.defined() ? options.class_weights.to(logits.device()) : at::Tensor();
      return at::cross_entropy_loss(logits, ids, weight, at::Reduction::Mean, /*ignore_index=*/-100);
    }
    case LossKind::BinaryCrossEntropy: {
      if (labels.numel() != B * K)
        fail(code::kInvalidArgument, "Expected " + std::to_string(B * K) + " float targets (batchSize × numLabels) for BCE");
      at::Tensor target = labels.to(logits.device(), at::kFloat).view({B, K});
      at::Tensor pos = options.pos_weight.defined() ? options.pos_weight.to(logits.device()) : at::Tensor();
      return at::binary_cross_entropy_with_logits(logits, target, at::Tensor(), pos, at::Reduction::Mean);
    }
    case LossKind::MeanSquaredError: {
      if (labels.numel() != B * K)
        fail(code::kInvalidArgument, "Expected " + std::to_string(B * K) + " float targets (batchSize × numLabels) for MSE");
      at::Tensor target = labels.to(logits.device(), at::kFloat);
      // transformers squeezes both sides when K = 1.
      return K == 1 ? at::mse_loss(logits.squeeze(), target.view({B}).squeeze())
                    : at::mse_loss(logits, target.view({B, K}));
    }
  }
  fail(code::kInternal, "unknown loss kind");
}

}  // namespace lora
