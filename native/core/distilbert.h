// DistilBertForSequenceClassification, computed exactly as transformers does:
// post-LN blocks, exact erf GELU, key padding masked with the dtype's minimum,
// head = hidden[:, 0] -> pre_classifier -> ReLU -> dropout -> classifier.
// Optional LoRA adapters on any of its linears (PEFT semantics, lora.h).
// Shapes: B batch, T tokens, C = dim, H heads, D = C / H, F = hidden_dim, K labels.
#pragma once

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/checkpoint.h"
#include "core/distilbert_config.h"
#include "core/linear.h"
#include "core/lora.h"
#include "core/precision.h"
#include "core/risk_inputs.h"

namespace lora {

struct MlmHead;

struct LayerNorm {
  at::Tensor weight;  // [C]
  at::Tensor bias;    // [C]
  at::Tensor forward(const at::Tensor& x) const;  // eps 1e-12, biased variance, fp32
};

struct TransformerBlock {
  Linear q_lin, k_lin, v_lin, out_lin;  // [C, C]
  Linear qkv;  // q, k, v stacked [3C, C] when all three are frozen: one wide matmul instead of three
  LayerNorm sa_layer_norm;
  Linear lin1;  // [F, C]
  Linear lin2;  // [C, F]
  LayerNorm output_layer_norm;
};

struct ForwardOptions {
  bool want_hidden = false;  // keep every layer's output
  bool train = false;        // dropout active (train mode)
  bool grad = false;         // record the autograd graph (for backward)
  RiskInputs risk;           // tabular features, for a model with a risk head (risk_head.h)
};

struct ForwardOutputs {
  at::Tensor logits;                      // [B, K] fp32
  at::Tensor last_hidden_state;           // [B, T, C] fp32 (when requested)
  std::vector<at::Tensor> hidden_states;  // L + 1 of [B, T, C] (when requested)
};

struct LoadOptions {
  c10::Device device = c10::Device(c10::kCPU);
  Precision precision = Precision::FP32;
  // Training labels replacing config.json's id2label (empty: keep the config's).
  std::vector<std::string> labels;
  std::string problem_type;  // replaces config.json's when labels are given
  // A missing head, or one with another number of labels, is initialised as
  // transformers does (normal(0, initializer_range), zero bias) instead of failing.
  bool init_missing_head = false;
  uint64_t seed = 42;
  // QLoRA: quantize the transformer-block linears to 4 bits on load (a checkpoint
  // already saved in 4 bits is read as it is).
  bool quantize = false;
  QuantType quant_type = QuantType::kNf4;
  int64_t quant_blocksize = 64;
  bool double_quant = true;
  // Block linears kept in full precision (module name or a suffix at a dot).
  std::vector<std::string> quant_skip;
  // DistilBertForMaskedLM: the MLM head (mlm_head.h) instead of the classification head.
  bool masked_lm = false;
};

// input_ids, attention_mask: int64 [B, T]: shapes, sequence length and id range (ERR_INVALID_ARGUMENT).
void check_token_inputs(const DistilBertConfig& c, const at::Tensor& input_ids, const at::Tensor& attention_mask);

using NamedTensors = std::vector<std::pair<std::string, at::Tensor>>;
class RiskHead;

class DistilBertClassifier {
 public:
  // Reads config.json and the safetensors weights of an HF checkpoint folder.
  static std::unique_ptr<DistilBertClassifier> load(const std::string& dir, const LoadOptions& options);

  // input_ids, attention_mask: int64 [B, T] on any device. Checks ranges (ERR_INVALID_ARGUMENT).
  ForwardOutputs forward(const at::Tensor& input_ids, const at::Tensor& attention_mask,
                         const ForwardOptions& options) const;

  // Adds LoRA adapters (freezing everything else but the spec's biases and
  // modules_to_save). ERR_CONFIG for an unknown module name.
  void attach_lora(const LoraSpec& spec, uint64_t seed);
  // Makes every parameter trainable (full fine-tuning).
  void enable_full_finetune();
  // Reads PEFT adapter_model.safetensors values into the attached adapters and saved modules.
  void load_adapter_weights(const std::string& path);
  // Trainable tensors under the names they are saved with: PEFT adapter keys
  // with LoRA, transformers' state-dict names for full fine-tuning.
  const NamedTensors& trainable() const { return trainable_; }
  // Every parameter under transformers' names (LoRA excluded). A 4-bit weight
  // appears as bitsandbytes saves it: the packed codes under "<name>.weight",
  // plus ".absmax", ".quant_map", ".nested_absmax", ".nested_quant_map" and
  // ".quant_state.bitsandbytes__nf4|fp4" (the JSON as uint8 bytes).
  NamedTensors state_dict() const;
  // Parameters that are float tensors (trainable candidates): state_dict() without 4-bit entries.
  NamedTensors float_parameters() const;
  bool quantized() const;
  // Bytes and element count of the transformer-block linear weights (packed when quantized).
  std::pair<int64_t, int64_t> base_linear_weight_bytes_and_params() const;
  bool has_lora() const { return !lora_modules_.empty(); }
  // Folds scale·B·A into each adapted weight (merge) or takes it out again (unmerge).
  void merge_lora();
  void unmerge_lora();

  const DistilBertConfig& config() const { return config_; }
  c10::Device device() const { return device_; }
  Precision precision() const { return precision_; }
  void set_precision(Precision p);
  void set_seed(uint64_t seed);
  // The dropout generator's state (for exact resumption).
  at::Tensor rng_state() const;
  void set_rng_state(const at::Tensor& state);
  // A copy of the trainable tensors, and putting such a copy back (best weights).
  NamedTensors snapshot_trainable() const;
  void restore_trainable(const NamedTensors& snapshot);
  int64_t parameter_count() const;
  // Why the head was initialised fresh ("" when it came from the checkpoint).
  const std::string& head_notice() const { return head_notice_; }
  // --- risk head (risk_head.h): features beside the text, ordinal thresholds ---
  // Its "lora_node.*" parameters join trainable() (attach after LoRA / full fine-tuning).
  void attach_risk_head(std::shared_ptr<RiskHead> head);
  const std::shared_ptr<RiskHead>& risk_head() const { return risk_head_; }
  // --- end risk head ---
  // All linears by module name ("distilbert.transformer.layer.0.attention.q_lin", "classifier", ...).
  std::vector<std::string> linear_names() const;
  // --- masked-language modelling (mlm_head.h): null for a classifier ---
  const MlmHead* mlm_head() const { return mlm_.get(); }
  const at::Tensor& word_embedding_weight() const { return word_embeddings; }

 private:
  // One frozen base shared by many adapters runs these layers itself (multi_adapter.h).
  friend class MultiAdapterModel;
  DistilBertClassifier() = default;
  void index_modules();
  void load_head(const CheckpointTensors& t, const std::string& dir, const LoadOptions& options);
  void check_quant_skip(const std::vector<std::string>& skip) const;
  std::vector<const Linear*> block_linears() const;
  Linear& linear(const std::string& name);
  at::Tensor embed(const at::Tensor& input_ids, const ForwardContext& ctx) const;                       // [B,T] -> [B,T,C]
  at::Tensor attention(const TransformerBlock& b, const at::Tensor& x, const at::Tensor& key_mask,
                       const ForwardContext& ctx) const;
  // x_lowp: x already in bf16 for the matmuls (fused path), updated to the output's.
  at::Tensor block(const TransformerBlock& b, const at::Tensor& x, const at::Tensor& key_mask,
                   const ForwardContext& ctx, at::Tensor* x_lowp = nullptr) const;
  at::Tensor head(const at::Tensor& hidden, const ForwardContext& ctx, const RiskInputs& risk) const;  // [B,T,C] -> [B,K]

  DistilBertConfig config_;
  c10::Device device_ = c10::Device(c10::kCPU);
  Precision precision_ = Precision::FP32;
  at::Tensor word_embeddings;      // [V, C]
  at::Tensor position_embeddings;  // [P, C]
  LayerNorm embeddings_layer_norm;
  std::vector<TransformerBlock> blocks;
  Linear pre_classifier;  // [C, C]
  Linear classifier;      // [K, C]
  std::shared_ptr<MlmHead> mlm_;  // DistilBertForMaskedLM's head (then no classification head)

  std::map<std::string, Linear*> linears_;  // module name -> linear (points into blocks / the head)
  std::vector<std::string> lora_modules_;
  bool merged_ = false;
  std::string head_notice_;
  NamedTensors trainable_;
  std::shared_ptr<RiskHead> risk_head_;  // null unless attach_risk_head()
  mutable at::Generator generator_;  // its mutex guards state reads
};

}  // namespace lora
