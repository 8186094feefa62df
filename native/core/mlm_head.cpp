#include "core/mlm_head.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/core/grad_mode.h>
#include <c10/core/InferenceMode.h>

#include "core/errors.h"

namespace lora {
namespace {

constexpr double kLayerNormEps = 1e-12;  // vocab_layer_norm, as DistilBERT's other LayerNorms
const char* const kHeadTensors[] = {"vocab_transform.weight", "vocab_transform.bias", "vocab_layer_norm.weight",
                                    "vocab_layer_norm.bias", "vocab_projector.bias"};

}  // namespace

MlmHead MlmHead::load_or_init(const CheckpointTensors& t, const DistilBertConfig& c, c10::Device device,
                              uint64_t seed, std::string* notice) {
  const int64_t C = c.dim, V = c.vocab_size;
  MlmHead h;
  int present = 0;
  for (const char* name : kHeadTensors) present += t.contains(name) ? 1 : 0;
  if (present == 5) {
    h.vocab_transform.weight = t.float_tensor("vocab_transform.weight", {C, C}).to(device);
    h.vocab_transform.bias = t.float_tensor("vocab_transform.bias", {C}).to(device);
    h.vocab_layer_norm = {t.float_tensor("vocab_layer_norm.weight", {C}).to(device),
                          t.float_tensor("vocab_layer_norm.bias", {C}).to(device)};
    h.vocab_projector_bias = t.float_tensor("vocab_projector.bias", {V}).to(device);
    // A stored vocab_projector.weight (older saves) is the tied duplicate: transformers'
    // tie_weights() makes it the embedding again, so only its shape is checked.
    if (t.contains("vocab_projector.weight")) t.float_tensor("vocab_projector.weight", {V, C});
    return h;
  }
  if (present > 0) {
    std::string missing;
    for (const char* name : kHeadTensors)
      if (!t.contains(name)) missing += (missing.empty() ? "" : ", ") + std::string(name);
    fail(code::kMissingTensor, t.dir() + ": the checkpoint has part of an MLM head; missing: " + missing);
  }
  // transformers' DistilBertPreTrainedModel._init_weights.
  auto generator = at::make_generator<at::CPUGeneratorImpl>(seed);
  h.vocab_transform.weight = at::empty({C, C}, at::kFloat).normal_(0.0, c.initializer_range, generator).to(device);
  h.vocab_transform.bias = at::zeros({C}, at::kFloat).to(device);
  h.vocab_layer_norm = {at::ones({C}, at::kFloat).to(device), at::zeros({C}, at::kFloat).to(device)};
  h.vocab_projector_bias = at::zeros({V}, at::kFloat).to(device);
  *notice = "the checkpoint has no MLM head: vocab_transform, vocab_layer_norm and vocab_projector.bias were "
            "initialised fresh (normal, std " + std::to_string(c.initializer_range) + ", zero bias)";
  return h;
}

void MlmHead::append_state(NamedTensors* out) const {
  out->emplace_back("vocab_transform.weight", vocab_transform.weight);
  out->emplace_back("vocab_transform.bias", vocab_transform.bias);
  out->emplace_back("vocab_layer_norm.weight", vocab_layer_norm.weight);
  out->emplace_back("vocab_layer_norm.bias", vocab_layer_norm.bias);
  out->emplace_back("vocab_projector.bias", vocab_projector_bias);
}

// vocab_projector(vocab_layer_norm(gelu(vocab_transform(h)))), projector weight = word_embeddings
at::Tensor MlmHead::forward(const at::Tensor& h, const at::Tensor& word_embeddings, c10::ScalarType compute) const {
  auto lin = [&](const at::Tensor& x, const at::Tensor& w, const at::Tensor& b) {
    if (compute == at::kFloat) return at::linear(x.to(at::kFloat), w, b);
    return at::linear(x.to(compute), w.to(compute), b.to(compute));  // cast per call: differentiable, never stale
  };
  at::Tensor x = at::gelu(lin(h, vocab_transform.weight, vocab_transform.bias));  // exact erf GELU
  x = vocab_layer_norm.forward(x);                                                // fp32
  return lin(x, word_embeddings, vocab_projector_bias).to(at::kFloat);           // [N, V]
}

MaskedLmOutputs masked_lm_forward(const DistilBertClassifier& model, const at::Tensor& input_ids,
                                  const at::Tensor& attention_mask, const at::Tensor& labels,
                                  const ForwardOptions& options, bool all_logits) {
  const MlmHead* head = model.mlm_head();
  if (!head) fail(code::kInvalidArgument, "Expected a model loaded as a masked language model (maskedLm: true)");
  if (!labels.sizes().equals(input_ids.sizes()))
    fail(code::kInvalidArgument, "Expected MLM labels with the input ids' shape [batchSize, seqLen]");
  const int64_t V = model.config().vocab_size;
  at::Tensor flat_labels = labels.to(model.device(), at::kLong).reshape({-1});
  at::Tensor labelled = flat_labels.ne(-100);
  if (flat_labels.numel() > 0) {
    const bool bad = flat_labels.lt(0).logical_and(labelled).any().item<bool>() || flat_labels.ge(V).any().item<bool>();
    if (bad) fail(code::kInvalidArgument, "Expected MLM labels in [0, " + std::to_string(V) + ") or -100 (no loss)");
  }
  ForwardOptions encoder = options;
  encoder.want_hidden = false;
  ForwardOutputs enc = model.forward(input_ids, attention_mask, encoder);  // checks ids and mask

  c10::optional<c10::InferenceMode> inference;
  if (!options.grad) inference.emplace();
  at::AutoGradMode grad_mode(options.grad);
  const auto compute = compute_dtype(model.precision());
  const at::Tensor& hidden = enc.last_hidden_state;  // [B, T, C]
  const int64_t C = hidden.size(-1);
  MaskedLmOutputs out;
  at::Tensor positions = labelled.nonzero().reshape({-1});  // the gather: only these rows meet the [C, V] matmul
  at::Tensor rows = hidden.reshape({-1, C}).index_select(0, positions);
  at::Tensor targets = flat_labels.index_select(0, positions);
  out.count = positions.numel();
  if (out.count > 0) {
    at::Tensor logits = head->forward(rows, model.word_embedding_weight(), compute);  // [N, V]
    out.loss = at::cross_entropy_loss(logits, targets);                               // mean over N
    out.correct = logits.argmax(-1).eq(targets).sum().item<int64_t>();
  } else {
    out.loss = at::abs(hidden.sum() * 0.0);  // no labelled token: a zero loss (+0) still part of the graph
  }
  if (all_logits) {
    at::Tensor all = hidden.reshape({-1, C});
    out.logits = head->forward(all, model.word_embedding_weight(), compute).reshape({hidden.size(0), hidden.size(1), V});
  }
  return out;
}

}  // namespace lora
