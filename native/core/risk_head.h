// The risk head: what the risk-classification shapes add on top of
// DistilBertClassifier's sequence-classification head (see distilbert.h).
//   h = dropout(ReLU(pre_classifier(hidden[:, 0])))                 [B, C]
//   z = classifier(h)                                               [B, Kh]
//   features: e = [numeric ; emb_1[c_1] ; ... ; emb_m[c_m]]         [B, E]
//             z = z + out(dropout(ReLU(mix([h ; e]))))              [B, Kh]
//   ordinal (Kh = 1): logits = z + thresholds                       [B, K-1]  (ordinal.h)
// `out` starts at zero, so a fresh fused model begins as its text-only head.
// Parameters are named "lora_node.*" and saved in a file of their own
// (lora_node_head.safetensors), so adapter_model.safetensors stays PEFT's.
#pragma once

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <string>
#include <utility>
#include <vector>

#include "core/risk_inputs.h"

namespace lora {

struct RiskHeadSpec {
  int64_t numeric_width = 0;            // 2 per numeric feature (value, missing indicator)
  std::vector<int64_t> categories;      // rows per categorical feature, the unknown bucket 0 included
  std::vector<int64_t> embedding_dims;  // embedding width per categorical feature
  int64_t hidden = 0;                   // width of the fusion MLP (0: C)
  int64_t ordinal_classes = 0;          // K >= 2 for an ordinal head, 0 otherwise
  std::vector<double> ordinal_thresholds;  // K-1 starting thresholds (empty: coral-pytorch's)
  bool has_features() const { return numeric_width > 0 || !categories.empty(); }
};

// Checks a spec (ERR_INVALID_ARGUMENT) before anything is built.
void check_risk_head_spec(const RiskHeadSpec& spec);

// "lora_node." keys belong to the risk head, never to a PEFT adapter.
bool is_risk_head_key(const std::string& name);

class RiskHead {
 public:
  // Fresh parameters on `device`: embeddings N(0, 1) with a zero unknown row,
  // mix as torch.nn.Linear's default (uniform ±1/√in), out zero, ordinal
  // thresholds from the spec or as coral-pytorch. text_dim = C, head_outputs = Kh.
  RiskHead(const RiskHeadSpec& spec, int64_t text_dim, int64_t head_outputs, c10::Device device, uint64_t seed);

  // h [B, C], z [B, Kh] (any float dtype) -> logits fp32. Checks the inputs
  // (ERR_INVALID_ARGUMENT): features are required exactly when the head has them.
  at::Tensor forward(const at::Tensor& h, const at::Tensor& z, const RiskInputs& in, bool train, double dropout_p,
                     c10::optional<at::Generator> generator) const;

  const std::vector<std::pair<std::string, at::Tensor>>& parameters() const { return params_; }
  // Reads every parameter from a safetensors file (ERR_MISSING_TENSOR, ERR_SHAPE, ERR_CONFIG for extra keys).
  void load(const std::string& path);
  const RiskHeadSpec& spec() const { return spec_; }

 private:
  void check_inputs(const RiskInputs& in, int64_t batch) const;

  RiskHeadSpec spec_;
  std::vector<at::Tensor> embeddings_;  // [rows_i, dim_i]
  at::Tensor mix_weight_, mix_bias_;    // [H, C + E], [H]
  at::Tensor out_weight_, out_bias_;    // [Kh, H], [Kh]
  at::Tensor thresholds_;               // [K - 1]
  std::vector<std::pair<std::string, at::Tensor>> params_;
};

// Throws when features arrive for a model without a risk head.
void check_no_risk_inputs(const RiskInputs& in);

}  // namespace lora
