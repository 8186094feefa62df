// The losses of DistilBertForSequenceClassification, chosen by problem_type
// as transformers does: regression -> MSE, single-label -> cross-entropy,
// multi-label -> BCE-with-logits.
#pragma once

#include <ATen/core/Tensor.h>

#include <string>

namespace lora {

enum class LossKind { CrossEntropy, BinaryCrossEntropy, MeanSquaredError, Ordinal /* CORAL, ordinal.h */ };

struct LossOptions {
  LossKind kind = LossKind::CrossEntropy;
  at::Tensor class_weights;  // [K] for cross-entropy, or undefined
  at::Tensor pos_weight;     // [K] for BCE-with-logits, or undefined
};

// problem_type ("" = unset: transformers infers from K and the label dtype).
LossKind loss_kind_for(const std::string& problem_type, int64_t num_labels, bool integer_labels);

// logits [B, K]; labels int64 [B] (CE, -100 ignored; ordinal: logits [B, K-1]) or float [B, K] (BCE, MSE).
// Checks shapes and class ids (ERR_INVALID_ARGUMENT). Returns a scalar.
at::Tensor classification_loss(const at::Tensor& logits, const at::Tensor& labels, const LossOptions& options);

}  // namespace lora
