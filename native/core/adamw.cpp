// Sources: torch/optim/adamw.py (_single_tensor_adamw, torch 1.13),
// torch/nn/utils/clip_grad.py (clip_grad_norm_) and transformers'
// Trainer.get_decay_parameter_names. The tensor operations are the same ATen
// calls in the same order, so a step on the same libtorch gives the same bits
// as torch.optim.AdamW(foreach=False).
#include "core/adamw.h"

#include <ATen/core/grad_mode.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <set>

#include "core/errors.h"
#include "core/text_format.h"

namespace lora {

namespace {

[[noreturn]] void expected(const std::string& what, const std::string& name, const std::string& received) {
  fail(code::kInvalidArgument, "Expected " + what + " for " + name + " but received " + received);
}

[[noreturn]] void expected_number(const std::string& what, const std::string& name, double received) {
  expected(what, name, "number " + number_text(received));
}

void check_hyperparameters(const AdamWOptions& o) {
  if (!(std::isfinite(o.lr) && o.lr >= 0)) expected_number("a non-negative finite number", "lr", o.lr);
  if (!(o.beta1 >= 0 && o.beta1 < 1)) expected_number("a number in [0, 1)", "betas[0]", o.beta1);
  if (!(o.beta2 >= 0 && o.beta2 < 1)) expected_number("a number in [0, 1)", "betas[1]", o.beta2);
  if (!(std::isfinite(o.eps) && o.eps >= 0)) expected_number("a non-negative finite number", "eps", o.eps);
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

}  // namespace

double weight_decay_for(const std::string& name, double weight_decay) {
  if (name.find("bias") != std::string::npos) return 0.0;
  const std::string l = lower(name);
  if (l.find("layernorm") != std::string::npos || l.find("layer_norm") != std::string::npos) return 0.0;
  return weight_decay;
}

AdamW::AdamW(std::vector<NamedParameter> params, AdamWOptions options)
    : params_(std::move(params)), options_(options) {
  check_hyperparameters(options_);
  std::set<std::string> seen;
  for (size_t i = 0; i < params_.size(); ++i) {
    const NamedParameter& p = params_[i];
    const std::string name = "parameters[" + std::to_string(i) + "]";
    if (p.name.empty()) expected("a non-empty name", name, "an empty string");
    if (!seen.insert(p.name).second) expected("unique parameter names", name, "a second \"" + p.name + "\"");
    if (!p.tensor.defined() || !at::isFloatingType(p.tensor.scalar_type()))
      expected("a floating-point tensor", "parameter \"" + p.name + "\"",
               p.tensor.defined() ? std::string("a tensor of ") + c10::toString(p.tensor.scalar_type()) : "no tensor");
    if (!(std::isfinite(p.weight_decay) && p.weight_decay >= 0))
      expected_number("a non-negative finite number", "the weight decay of \"" + p.name + "\"", p.weight_decay);
    // state = {step: 0, exp_avg: zeros_like(p), exp_avg_sq: zeros_like(p)} (torch creates it lazily; zeros are the same)
    exp_avg_.push_back(at::zeros_like(p.tensor, at::MemoryFormat::Preserve));
    exp_avg_sq_.push_back(at::zeros_like(p.tensor, at::MemoryFormat::Preserve));
    steps_.push_back(0);
  }
}

void AdamW::step(const std::vector<at::Tensor>& grads, double lr) {
  if (grads.size() != params_.size())
    expected(std::to_string(params_.size()) + " gradients (one per parameter)", "grads",
             std::to_string(grads.size()) + " gradients");
  if (!(std::isfinite(lr) && lr >= 0)) expected_number("a non-negative finite number", "lr", lr);
  for (size_t i = 0; i < params_.size(); ++i) {
    const at::Tensor& p = params_[i].tensor;
    const at::Tensor& g = grads[i];
    if (!g.defined()) continue;
    const std::string name = "the gradient of \"" + params_[i].name + "\"";
    if (!g.sizes().equals(p.sizes())) expected("shape " + shape_text(p.sizes()), name, "shape " + shape_text(g.sizes()));
    if (g.scalar_type() != p.scalar_type())
      expected(std::string("dtype ") + c10::toString(p.scalar_type()), name, c10::toString(g.scalar_type()));
    if (g.device() != p.device()) expected("device " + p.device().str(), name, "device " + g.device().str());
  }

  at::NoGradGuard no_grad;
  const double beta1 = options_.beta1, beta2 = options_.beta2, eps = options_.eps;
  for (size_t i = 0; i < params_.size(); ++i) {
    const at::Tensor& grad = grads[i];
    if (!grad.defined()) continue;
    at::Tensor param = params_[i].tensor;
    at::Tensor& exp_avg = exp_avg_[i];
    at::Tensor& exp_avg_sq = exp_avg_sq_[i];
    const double weight_decay = params_[i].weight_decay;

    // step_t += 1
    const double step = static_cast<double>(++steps_[i]);
    // param.mul_(1 - lr * weight_decay)
    param.mul_(1 - lr * weight_decay);
    // exp_avg.mul_(beta1).add_(grad, alpha=1 - beta1)   (torch 2.x: exp_avg.lerp_(grad, 1 - beta1))
    exp_avg.mul_(beta1).add_(grad, 1 - beta1);
    // exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
    exp_avg_sq.mul_(beta2).addcmul_(grad, grad, 1 - beta2);
    // bias_correction1 = 1 - beta1 ** step; bias_correction2 = 1 - beta2 ** step
    const double bias_correction1 = 1 - std::pow(beta1, step);
    const double bias_correction2 = 1 - std::pow(beta2, step);
    const double step_size = lr / bias_correction1;
    const double bias_correction2_sqrt = std::sqrt(bias_correction2);
    // denom = (exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(eps)
    at::Tensor denom = (exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(eps);
    // param.addcdiv_(exp_avg, denom, value=-step_size)
    param.addcdiv_(exp_avg, denom, -step_size);
  }
}

std::vector<std::pair<std::string, at::Tensor>> AdamW::state_dict() const {
  std::vector<std::pair<std::string, at::Tensor>> out;
  out.reserve(params_.size() * 3);
  for (size_t i = 0; i < params_.size(); ++i) {
    const std::string& name = params_[i].name;
    out.emplace_back(name + ".exp_avg", exp_avg_[i].detach().to(at::kCPU).contiguous().clone());
    out.emplace_back(name + ".exp_avg_sq", exp_avg_sq_[i].detach().to(at::kCPU).contiguous().clone());
    out.emplace_back(name + ".step", at::full({1}, steps_[i], at::TensorOptions().dtype(at::kLong)));
  }
  return out;
}

void AdamW::load_state_dict(const std::map<std::string, at::Tensor>& state) {
  // Check everything first, so a bad state leaves the optimizer as it was.
  auto get = [&](const std::string& key) -> const at::Tensor& {
    auto it = state.find(key);
    if (it == state.end() || !it->second.defined()) fail(code::kMissingTensor, "optimizer state \"" + key + "\" is missing");
    return it->second;
  };
  std::vector<int64_t> steps(params_.size());
  for (size_t i = 0; i < params_.size(); ++i) {
    const NamedParameter& p = params_[i];
    for (const char* suffix : {".exp_avg", ".exp_avg_sq"}) {
      const at::Tensor& t = get(p.name + suffix);
      if (!t.sizes().equals(p.tensor.sizes()))
        fail(code::kShape, "optimizer state \"" + p.name + suffix + "\" has shape " + shape_text(t.sizes()) +
                               " but the parameter has shape " + shape_text(p.tensor.sizes()));
      if (!at::isFloatingType(t.scalar_type()))
        fail(code::kShape, "optimizer state \"" + p.name + suffix + "\" is " + c10::toString(t.scalar_type()) +
                               ", not a floating-point tensor");
    }
    const at::Tensor& step = get(p.name + ".step");
    const double value = step.numel() == 1 ? step.to(at::kCPU, at::kDouble).item<double>() : -1;
    if (!(value >= 0 && value == std::floor(value) && value < 9007199254740992.0))
      fail(code::kShape, "optimizer state \"" + p.name + ".step\" must be one non-negative integer");
    steps[i] = static_cast<int64_t>(value);
  }
  at::NoGradGuard no_grad;
  for (size_t i = 0; i < params_.size(); ++i) {
    const at::TensorOptions like = params_[i].tensor.options();
    exp_avg_[i].copy_(get(params_[i].name + ".exp_avg").to(like.device(), like.dtype()));
    exp_avg_sq_[i].copy_(get(params_[i].name + ".exp_avg_sq").to(like.device(), like.dtype()));
  }
  steps_ = std::move(steps);
}

double global_grad_norm(const std::vector<at::Tensor>& grads) {
  at::NoGradGuard no_grad;
  std::vector<at::Tensor> norms;
  for (const at::Tensor& g : grads)
    if (g.defined()) norms.push_back(at::norm(g.detach(), 2).to(norms.empty() ? g.device() : norms[0].device()));
  if (norms.empty()) return 0.0;
  // torch.norm(torch.stack([torch.norm(g.detach(), norm_type).to(device) for g in grads]), norm_type)
  return at::norm(at::stack(norms), 2).item<double>();
}

ClipResult clip_grad_norm(const std::vector<at::Tensor>& grads, double max_norm) {
  if (!(std::isfinite(max_norm) && max_norm > 0))
    expected_number("a positive finite number", "maxGradNorm", max_norm);
  at::NoGradGuard no_grad;
  std::vector<at::Tensor> defined;
  for (const at::Tensor& g : grads)
    if (g.defined()) defined.push_back(g);
  if (defined.empty()) return {0.0, 1.0};  // torch returns tensor(0.) and touches nothing
  const c10::Device device = defined[0].device();
  std::vector<at::Tensor> norms;
  norms.reserve(defined.size());
  for (const at::Tensor& g : defined) norms.push_back(at::norm(g.detach(), 2).to(device));
  const at::Tensor total_norm = at::norm(at::stack(norms), 2);
  // clip_coef = max_norm / (total_norm + 1e-6)   (Tensor.__rtruediv__ is reciprocal() * other)
  const at::Tensor clip_coef = (total_norm + 1e-6).reciprocal() * max_norm;
  const at::Tensor clip_coef_clamped = 
      at::clamp(clip_coef, c10::optional<at::Scalar>(), c10::optional<at::Scalar>(1.0));
  const double coef = clip_coef_clamped.item<double>();
  // torch multiplies by the clamped coef unconditionally; times 1.0 changes no value,
  // so skip that pass (but not for a NaN coef, which torch spreads to every gradient).
  if (!(coef >= 1.0))
    for (const at::Tensor& g : defined) g.detach().mul_(clip_coef_clamped.to(g.device()));
  return {total_norm.item<double>(), coef};
}

}  // namespace lora
