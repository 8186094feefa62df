// torch.optim.AdamW (amsgrad=False, maximize=False), global-norm gradient
// clipping as torch.nn.utils.clip_grad_norm_, and the transformers Trainer's
// weight-decay grouping. Parameters are fp32 master tensors on any device.
#pragma once

#include <ATen/ATen.h>

#include <map>
#include <string>
#include <utility>
#include <vector>

namespace lora {

struct AdamWOptions {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
};

struct NamedParameter {
  std::string name;
  at::Tensor tensor;        // updated in place by AdamW::step
  double weight_decay = 0;  // this parameter's group decay (see weight_decay_for)
};

// Trainer.get_decay_parameter_names: `weight_decay` for every parameter whose
// name has no "bias" and that is not a LayerNorm parameter (a name containing
// "LayerNorm" or "layer_norm", compared case-insensitively), 0.0 for the rest.
// With LoRA on DistilBERT: lora_A/lora_B and the pre_classifier/classifier
// weights decay; every bias does not.
double weight_decay_for(const std::string& name, double weight_decay);

class AdamW {
 public:
  // Names must be unique and non-empty; tensors defined, floating point.
  AdamW(std::vector<NamedParameter> params, AdamWOptions options);

  // One optimizer step at learning rate `lr`; grads[i] belongs to parameters()[i]
  // and must match its shape, dtype and device. An undefined grad skips that
  // parameter (its moments and step count stay as they are), as torch skips a
  // parameter whose .grad is None. Grads are read, never modified.
  //
  // Per parameter, with t its 1-based step (torch's _single_tensor_adamw):
  //   p *= 1 - lr*wd                      (decoupled decay, on the old p)
  //   m = b1*m + (1-b1)*g ;  v = b2*v + (1-b2)*g*g
  //   p -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps)
  void step(const std::vector<at::Tensor>& grads, double lr);
  void step(const std::vector<at::Tensor>& grads) { step(grads, options_.lr); }

  const std::vector<NamedParameter>& parameters() const { return params_; }
  const AdamWOptions& options() const { return options_; }
  int64_t step_count(size_t index) const { return steps_.at(index); }

  // Optimizer state for checkpoints: for every parameter `<name>.exp_avg`,
  // `<name>.exp_avg_sq` (same shape and dtype as the parameter, on the CPU) and
  // `<name>.step` (int64 [1]). Callers add their own prefix when writing a file.
  std::vector<std::pair<std::string, at::Tensor>> state_dict() const;
  // Restores a state_dict(): every key must be present with the parameter's
  // shape (ERR_MISSING_TENSOR / ERR_SHAPE); values move to the parameter's device.
  void load_state_dict(const std::map<std::string, at::Tensor>& state);

 private:
  std::vector<NamedParameter> params_;
  AdamWOptions options_;
  std::vector<at::Tensor> exp_avg_;
  std::vector<at::Tensor> exp_avg_sq_;
  std::vector<int64_t> steps_;
};

struct ClipResult {
  double total_norm;  // L2 norm of all gradients as one vector, before clipping
  double coef;        // min(max_norm / (total_norm + 1e-6), 1), as the float32 torch computes
};

// L2 norm of all defined gradients together (the norm of the per-tensor norms,
// as clip_grad_norm_ computes it, in float32 on the first gradient's device).
double global_grad_norm(const std::vector<at::Tensor>& grads);

// torch.nn.utils.clip_grad_norm_(params, max_norm, norm_type=2): scales every
// defined gradient in place by coef. Where coef is exactly 1 the gradients are
// left untouched, which is what multiplying by the clamped 1.0 (torch) gives.
ClipResult clip_grad_norm(const std::vector<at::Tensor>& grads, double max_norm);

}  // namespace lora
