// DistilBertForSequenceClassification, computed exactly as transformers does
// (eval mode): post-LN blocks, exact erf GELU, key padding masked with the
// dtype's minimum, head = hidden[:, 0] -> pre_classifier -> ReLU -> classifier.
// Shapes: B batch, T tokens, C = dim, H heads, D = C / H, F = hidden_dim, K labels.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/distilbert_config.h"
#include "core/linear.h"
#include "core/precision.h"

namespace lora {

struct LayerNorm {
  at::Tensor weight;  // [C]
  at::Tensor bias;    // [C]
  at::Tensor forward(const at::Tensor& x) const;  // eps 1e-12, biased variance, fp32
};

struct TransformerBlock {
  Linear q_lin, k_lin, v_lin, out_lin;  // [C, C]
  Linear qkv;  // q, k and v stacked [3C, C] in the compute dtype: one wide matmul instead of three
  LayerNorm sa_layer_norm;
  Linear lin1;  // [F, C]
  Linear lin2;  // [C, F]
  LayerNorm output_layer_norm;
};

struct ForwardOutputs {
  at::Tensor logits;                      // [B, K] fp32
  at::Tensor last_hidden_state;           // [B, T, C] fp32 (when requested)
  std::vector<at::Tensor> hidden_states;  // L + 1 of [B, T, C] (when requested)
};

struct LoadOptions {
  c10::Device device = c10::Device(c10::kCPU);
  Precision precision = Precision::FP32;
};

class DistilBertClassifier {
 public:
  // Reads config.json and the safetensors weights of an HF checkpoint folder.
  static std::unique_ptr<DistilBertClassifier> load(const std::string& dir, const LoadOptions& options);

  // input_ids, attention_mask: int64 [B, T] on any device. Checks ranges (ERR_INVALID_ARGUMENT).
  ForwardOutputs forward(const at::Tensor& input_ids, const at::Tensor& attention_mask, bool want_hidden) const;

  const DistilBertConfig& config() const { return config_; }
  c10::Device device() const { return device_; }
  Precision precision() const { return precision_; }
  void set_precision(Precision p);
  int64_t parameter_count() const;

 private:
  DistilBertClassifier() = default;
  at::Tensor embed(const at::Tensor& input_ids) const;                                    // [B,T] -> [B,T,C]
  at::Tensor attention(const TransformerBlock& b, const at::Tensor& x, const at::Tensor& key_mask) const;
  at::Tensor block(const TransformerBlock& b, const at::Tensor& x, const at::Tensor& key_mask) const;
  at::Tensor head(const at::Tensor& hidden) const;                                        // [B,T,C] -> [B,K]

  DistilBertConfig config_;
  c10::Device device_ = c10::Device(c10::kCPU);
  Precision precision_ = Precision::FP32;
  at::Tensor word_embeddings;      // [V, C]
  at::Tensor position_embeddings;  // [P, C]
  LayerNorm embeddings_layer_norm;
  std::vector<TransformerBlock> blocks;
  Linear pre_classifier;  // [C, C]
  Linear classifier;      // [K, C]
};

}  // namespace lora
