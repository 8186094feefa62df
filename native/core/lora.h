// LoRA (PEFT semantics): a frozen base linear plus a low-rank update,
//   y = x Wᵀ + b + scale · (dropout(x) Aᵀ) Bᵀ,  A [r, in], B [out, r],
// scale = alpha / r, or alpha / √r with rsLoRA (PEFT LoraLayer.update_layer).
// The adapter sits beside the base Linear (composition), so merge/unmerge and
// saving touch only these two tensors.
#pragma once

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>

#include <string>
#include <vector>

namespace lora {

// PEFT's key names: "base_model.model." + the model's parameter name, with
// ".default" before ".weight" and "modules_to_save.default." for saved modules.
inline const std::string kPeftPrefix = "base_model.model.";

inline bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// A PEFT adapter key as the model's parameter name: without the prefix, ".default"
// and "modules_to_save." (full fine-tuning checkpoints already use plain names).
inline std::string peft_parameter_name(const std::string& key) {
  std::string name = key.rfind(kPeftPrefix, 0) == 0 ? key.substr(kPeftPrefix.size()) : key;
  for (const std::string& noise : {std::string(".default"), std::string("modules_to_save.")}) {
    const auto at = name.find(noise);
    if (at != std::string::npos) name.erase(at, noise.size());
  }
  return name;
}

// One targeted module, resolved in TypeScript from the user's LoraOptions
// (target_modules, layers_to_transform, rank_pattern, alpha_pattern).
struct LoraModuleSpec {
  std::string module;  // e.g. "distilbert.transformer.layer.0.attention.q_lin"
  int64_t r = 8;
  double alpha = 8;
};

enum class LoraInit { Kaiming, Gaussian, Zeros };

struct LoraSpec {
  std::vector<LoraModuleSpec> modules;
  double dropout = 0.0;
  bool use_rslora = false;
  LoraInit init = LoraInit::Kaiming;
  std::string bias = "none";                // "none" | "all" | "lora_only": which biases train
  std::vector<std::string> modules_to_save;  // fully trained and saved, e.g. pre_classifier, classifier
};

struct LoraAdapter {
  at::Tensor A;  // [r, in]
  at::Tensor B;  // [out, r]
  double scale = 1.0;
  double dropout = 0.0;
  bool merged = false;  // scale·B·A currently folded into the base weight

  // scale · extra · (dropout(x) Aᵀ) Bᵀ: [..., in] -> [..., out] in x's dtype. The
  // scales multiply the small [..., r] intermediate, not the [..., out] result.
  at::Tensor delta(const at::Tensor& x, bool train, c10::optional<at::Generator> generator, double extra = 1.0) const;
};

double lora_scale(double alpha, int64_t r, bool use_rslora);

// A and B as PEFT initialises them (init_lora_weights): kaiming-uniform(a=√5)
// A = U(±1/√in) with B = 0; 'gaussian': A ~ N(0, 1/r), B = 0.
LoraAdapter make_lora_adapter(int64_t in, int64_t out, const LoraModuleSpec& spec, const LoraSpec& all,
                              at::Generator generator, const at::TensorOptions& options);

// Inverted dropout with an explicit generator (reproducible per model seed).
at::Tensor dropout(const at::Tensor& x, double p, bool train, c10::optional<at::Generator> generator);

}  // namespace lora
