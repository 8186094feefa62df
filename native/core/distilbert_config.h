// DistilBERT's config.json, as transformers' DistilBertConfig reads it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace lora {

struct DistilBertConfig {
  int64_t vocab_size = 30522;
  int64_t max_position_embeddings = 512;
  bool sinusoidal_pos_embds = false;
  int64_t n_layers = 6;
  int64_t n_heads = 12;
  int64_t dim = 768;
  int64_t hidden_dim = 3072;
  double dropout = 0.1;
  double attention_dropout = 0.1;
  double seq_classif_dropout = 0.2;
  double initializer_range = 0.02;  // std of a freshly initialised head
  std::string activation = "gelu";  // "gelu" (exact erf) or "relu"
  int64_t pad_token_id = 0;
  std::vector<std::string> labels;  // id2label in id order; size == num_labels
  std::string problem_type;         // "" when unset (transformers infers it)
  std::string torch_dtype;          // "float32", "float16", ... ("" when absent)

  int64_t num_labels() const { return static_cast<int64_t>(labels.size()); }
  int64_t head_dim() const { return dim / n_heads; }
};

// Parses and checks a config.json text; `label` names the file in errors (ERR_CONFIG).
DistilBertConfig parse_distilbert_config(const std::string& json_text, const std::string& label);

// Reads `<dir>/config.json` (ERR_CONFIG when missing or invalid).
DistilBertConfig load_distilbert_config(const std::string& checkpoint_dir);

}  // namespace lora
