#include "core/risk_head.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <map>

#include "core/errors.h"
#include "core/lora.h"
#include "core/ordinal.h"
#include "core/checkpoint.h"
#include "core/safetensors.h"
#include "core/text_format.h"

namespace lora {
namespace {

const std::string kPrefix = "lora_node.";

}  // namespace

bool is_risk_head_key(const std::string& name) { return name.rfind(kPrefix, 0) == 0; }

void check_risk_head_spec(const RiskHeadSpec& s) {
  if (s.numeric_width < 0 || s.numeric_width % 2 != 0)
    fail(code::kInvalidArgument, "Expected an even numericWidth >= 0 (value and missing indicator per feature) but received " +
                                     std::to_string(s.numeric_width));
  if (s.categories.size() != s.embedding_dims.size())
    fail(code::kInvalidArgument, "Expected one embedding width per categorical feature");
  for (size_t i = 0; i < s.categories.size(); ++i)
    if (s.categories[i] < 1 || s.embedding_dims[i] < 1)
      fail(code::kInvalidArgument, "Expected >= 1 rows and width for categorical feature " + std::to_string(i));
  if (s.hidden < 0) fail(code::kInvalidArgument, "Expected hidden >= 0 but received " + std::to_string(s.hidden));
  if (s.ordinal_classes == 1 || s.ordinal_classes < 0)
    fail(code::kInvalidArgument, "Expected ordinalClasses >= 2 (or 0: not ordinal) but received " + std::to_string(s.ordinal_classes));
  if (!s.ordinal_thresholds.empty() && static_cast<int64_t>(s.ordinal_thresholds.size()) != s.ordinal_classes - 1)
    fail(code::kInvalidArgument, "Expected " + std::to_string(s.ordinal_classes - 1) + " ordinal thresholds (K - 1) but received " +
                                     std::to_string(s.ordinal_thresholds.size()));
  for (double t : s.ordinal_thresholds)
    if (!std::isfinite(t)) fail(code::kInvalidArgument, "Expected finite ordinal thresholds");
  if (!s.has_features() && s.ordinal_classes == 0) fail(code::kInvalidArgument, "Expected features or an ordinal head in the risk head spec");
}

RiskHead::RiskHead(const RiskHeadSpec& spec, int64_t text_dim, int64_t head_outputs, c10::Device device, uint64_t seed)
    : spec_(spec) {
  check_risk_head_spec(spec);
  if (spec.ordinal_classes > 0 && head_outputs != 1)
    fail(code::kInvalidArgument, "Expected a one-output classifier (the ordinal score) under an ordinal head but it has " +
                                     std::to_string(head_outputs));
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  auto param = [&](const std::string& name, at::Tensor t) {
    t = t.to(device);
    t.requires_grad_(true);
    params_.emplace_back(kPrefix + name, t);
    return t;
  };
  if (spec.has_features()) {
    int64_t width = text_dim + spec.numeric_width;
    for (size_t i = 0; i < spec.categories.size(); ++i) {
      at::Tensor e = at::empty({spec.categories[i], spec.embedding_dims[i]}, at::kFloat).normal_(0.0, 1.0, gen);
      e[0].zero_();  // the unknown bucket starts as "no information"
      embeddings_.push_back(param("features.embeddings." + std::to_string(i) + ".weight", e));
      width += spec.embedding_dims[i];
    }
    const int64_t hidden = spec.hidden > 0 ? spec.hidden : text_dim;
    spec_.hidden = hidden;
    const double bound = 1.0 / std::sqrt(static_cast<double>(width));
    mix_weight_ = param("features.mix.weight", at::empty({hidden, width}, at::kFloat).uniform_(-bound, bound, gen));
    mix_bias_ = param("features.mix.bias", at::empty({hidden}, at::kFloat).uniform_(-bound, bound, gen));
    out_weight_ = param("features.out.weight", at::zeros({head_outputs, hidden}, at::kFloat));
    out_bias_ = param("features.out.bias", at::zeros({head_outputs}, at::kFloat));
  }
  if (spec.ordinal_classes > 0)
    thresholds_ = param("ordinal.thresholds", spec.ordinal_thresholds.empty()
                                                  ? coral_initial_thresholds(spec.ordinal_classes)
                                                  : at::tensor(spec.ordinal_thresholds, at::kDouble).to(at::kFloat));
}

void RiskHead::check_inputs(const RiskInputs& in, int64_t B) const {
  if (!spec_.has_features()) {
    check_no_risk_inputs(in);
    return;
  }
  const int64_t F = static_cast<int64_t>(spec_.categories.size());
  if (spec_.numeric_width > 0) {
    if (!in.numeric.defined())
      fail(code::kInvalidArgument, "Expected numeric features (" + std::to_string(spec_.numeric_width) +
                                       " values per example): this model was trained with features");
    if (in.numeric.dim() != 2 || in.numeric.size(0) != B || in.numeric.size(1) != spec_.numeric_width)
      fail(code::kInvalidArgument, "Expected numeric features of shape [" + std::to_string(B) + ", " +
                                       std::to_string(spec_.numeric_width) + "] but received " + shape_text(in.numeric.sizes()));
    if (!at::isfinite(in.numeric).all().item<bool>())
      fail(code::kInvalidArgument, "Expected finite numeric features but received NaN or Infinity");
  } else if (in.numeric.defined() && in.numeric.numel() > 0) {
    fail(code::kInvalidArgument, "Expected no numeric features: this model has only categorical ones");
  }
  if (F > 0) {
    if (!in.categorical.defined())
      fail(code::kInvalidArgument, "Expected categorical features (" + std::to_string(F) +
                                       " ids per example): this model was trained with features");
    if (in.categorical.dim() != 2 || in.categorical.size(0) != B || in.categorical.size(1) != F)
      fail(code::kInvalidArgument, "Expected categorical features of shape [" + std::to_string(B) + ", " + std::to_string(F) +
                                       "] but received " + shape_text(in.categorical.sizes()));
    at::Tensor ids = in.categorical.to(at::kCPU, at::kLong);
    for (int64_t i = 0; i < F; ++i) {
      at::Tensor column = ids.select(1, i);
      const int64_t lo = column.min().item<int64_t>(), hi = column.max().item<int64_t>();
      if (lo < 0 || hi >= spec_.categories[i])
        fail(code::kInvalidArgument, "Expected category ids in [0, " + std::to_string(spec_.categories[i]) +
                                         ") for categorical feature " + std::to_string(i) + " but received " +
                                         std::to_string(lo < 0 ? lo : hi));
    }
  } else if (in.categorical.defined() && in.categorical.numel() > 0) {
    fail(code::kInvalidArgument, "Expected no categorical features: this model has only numeric ones");
  }
}

at::Tensor RiskHead::forward(const at::Tensor& h, const at::Tensor& z, const RiskInputs& in, bool train, double dropout_p,
                             c10::optional<at::Generator> generator) const {
  const int64_t B = h.size(0);
  check_inputs(in, B);
  at::Tensor logits = z.to(at::kFloat);
  if (spec_.has_features()) {
    std::vector<at::Tensor> parts{h.to(at::kFloat)};
    if (spec_.numeric_width > 0) parts.push_back(in.numeric.to(h.device(), at::kFloat));
    at::Tensor ids = embeddings_.empty() ? at::Tensor() : in.categorical.to(h.device(), at::kLong);
    for (size_t i = 0; i < embeddings_.size(); ++i)
      parts.push_back(at::embedding(embeddings_[i], ids.select(1, static_cast<int64_t>(i))));
    at::Tensor mixed = at::relu(at::linear(at::cat(parts, 1), mix_weight_, mix_bias_));  // [B, H]
    logits = logits + at::linear(dropout(mixed, dropout_p, train, generator), out_weight_, out_bias_);
  }
  if (thresholds_.defined()) logits = logits + thresholds_.unsqueeze(0);  // [B, 1] + [1, K-1]
  return logits;
}

void RiskHead::load(const std::string& path) {
  auto file = SafetensorsFile::open(path);
  std::map<std::string, at::Tensor*> own;
  for (auto& [name, t] : params_) own[name] = &t;
  for (const auto& entry : file->entries()) {
    auto it = own.find(entry.name);
    if (it == own.end())
      fail(code::kConfig, path + ": \"" + entry.name + "\" names no parameter of this risk head (see lora-node.json)");
    copy_checked(*it->second, file->tensor(entry.name), path, entry.name, "the risk head");
    own.erase(it);
  }
  if (!own.empty()) fail(code::kMissingTensor, path + ": the risk head has no \"" + own.begin()->first + "\"");
}

void check_no_risk_inputs(const RiskInputs& in) {
  const bool any = (in.numeric.defined() && in.numeric.numel() > 0) || (in.categorical.defined() && in.categorical.numel() > 0);
  if (any) fail(code::kInvalidArgument, "Expected no features: this model was trained on text alone");
}

}  // namespace lora
