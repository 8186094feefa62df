// DistilBertForMaskedLM's head, computed as transformers does:
//   logits = vocab_projector(vocab_layer_norm(gelu(vocab_transform(h))))
// with vocab_projector.weight TIED to distilbert.embeddings.word_embeddings.weight:
// the head holds no copy, it is handed the embedding tensor, so the gradient of
// both uses (input lookup, output projection) accumulates into that one tensor.
// Shapes: N rows (masked positions, or B·T), C = dim, V = vocab.
#pragma once

#include <ATen/core/Tensor.h>

#include <string>

#include "core/distilbert.h"

namespace lora {

struct MlmHead {
  Linear vocab_transform;           // [C, C]
  LayerNorm vocab_layer_norm;       // [C], eps 1e-12
  at::Tensor vocab_projector_bias;  // [V]

  // The checkpoint's head when it has one (vocab_transform.* ... vocab_projector.bias);
  // otherwise a fresh one as transformers' _init_weights makes it (Linear N(0,
  // initializer_range), zero biases, LayerNorm 1/0), with the reason in *notice.
  static MlmHead load_or_init(const CheckpointTensors& t, const DistilBertConfig& c, c10::Device device,
                              uint64_t seed, std::string* notice);
  // Under transformers' names; vocab_projector.weight is left out, as save_pretrained
  // leaves out a tied duplicate.
  void append_state(NamedTensors* out) const;
  // h [N, C] -> logits [N, V] fp32. Matmuls in `compute` (bf16 training as autocast runs it).
  at::Tensor forward(const at::Tensor& h, const at::Tensor& word_embeddings, c10::ScalarType compute) const;
};

struct MaskedLmOutputs {
  at::Tensor loss;      // scalar fp32: mean cross-entropy over the labelled positions (0 when none)
  int64_t correct = 0;  // labelled positions whose argmax is the label
  int64_t count = 0;    // labelled positions
  at::Tensor logits;    // [B, T, V] when all_logits, else undefined
};

// input_ids, attention_mask, labels: int64 [B, T]; labels hold -100 where no loss is
// taken. The vocabulary projection runs only at labelled positions (gathered), unless
// all_logits asks for every position (golden tests, inference). ERR_INVALID_ARGUMENT
// for a model loaded without the head, bad shapes or label ids.
MaskedLmOutputs masked_lm_forward(const DistilBertClassifier& model, const at::Tensor& input_ids,
                                  const at::Tensor& attention_mask, const at::Tensor& labels,
                                  const ForwardOptions& options, bool all_logits);

}  // namespace lora
