#include "core/train_loop.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>

#include "core/errors.h"
#include "core/mlm_head.h"

namespace lora {
namespace {

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

}  // namespace

TrainLoop::TrainLoop(std::shared_ptr<DistilBertClassifier> model, std::shared_ptr<const TokenDataset> data,
                     TrainConfig config)
    : model_(std::move(model)), data_(std::move(data)), config_(std::move(config)) {
  if (config_.epochs < 1) fail(code::kInvalidArgument, "Expected epochs >= 1 but received " + std::to_string(config_.epochs));
  if (config_.batch_size < 1) fail(code::kInvalidArgument, "Expected batchSize >= 1 but received " + std::to_string(config_.batch_size));
  if (config_.gradient_accumulation < 1)
    fail(code::kInvalidArgument, "Expected gradientAccumulationSteps >= 1 but received " + std::to_string(config_.gradient_accumulation));
  if (model_->trainable().empty())
    fail(code::kInvalidArgument, "Expected a model with trainable parameters (LoRA adapters or full fine-tuning)");
  if (config_.masking && !model_->mlm_head())
    fail(code::kInvalidArgument, "Expected a model loaded as a masked language model for MLM training");
  if (!config_.masking && model_->mlm_head())
    fail(code::kInvalidArgument, "Expected masking settings to train a masked language model");
  batches_per_epoch_ = ceil_div(data_->size(), config_.batch_size);
  steps_per_epoch_ = ceil_div(batches_per_epoch_, config_.gradient_accumulation);
  total_steps_ = steps_per_epoch_ * config_.epochs;
  warmup_ = warmup_steps(config_.warmup_steps, config_.warmup_ratio, total_steps_);
  std::vector<NamedParameter> params;
  for (const auto& [name, tensor] : model_->trainable())
    params.push_back({name, tensor, weight_decay_for(name, config_.weight_decay)});
  optimizer_ = std::make_unique<AdamW>(std::move(params), config_.adam);
  model_->set_seed(config_.seed);
}

// A seeded permutation per epoch: the order depends only on (seed, epoch), so a
// resumed run sees the same batches.
std::vector<int64_t> TrainLoop::epoch_order(int64_t epoch) const {
  auto generator = at::make_generator<at::CPUGeneratorImpl>(config_.seed * 1000003ULL + static_cast<uint64_t>(epoch));
  at::Tensor perm = at::randperm(data_->size(), generator, at::kLong);
  return std::vector<int64_t>(perm.data_ptr<int64_t>(), perm.data_ptr<int64_t>() + perm.numel());
}

// One optimizer step: its micro-batches forward and backward (loss averaged
// over them), clipping, AdamW at lr(step). Returns the mean loss.
double TrainLoop::train_step() {
  const int64_t epoch = global_step_ / steps_per_epoch_;
  const int64_t step_in_epoch = global_step_ % steps_per_epoch_;
  if (order_epoch_ != epoch) {
    order_ = epoch_order(epoch);
    order_epoch_ = epoch;
  }
  const int64_t first_batch = step_in_epoch * config_.gradient_accumulation;
  const int64_t last_batch = std::min(first_batch + config_.gradient_accumulation, batches_per_epoch_);
  const int64_t micro_batches = last_batch - first_batch;

  std::vector<at::Tensor> params;
  for (const auto& [name, tensor] : model_->trainable()) {
    at::Tensor p = tensor;
    if (p.grad().defined()) p.mutable_grad().reset();
    params.push_back(p);
  }
  double loss_sum = 0;
  int64_t samples = 0;
  ForwardOptions options;
  options.train = true;
  options.grad = true;
  for (int64_t b = first_batch; b < last_batch; ++b) {
    const int64_t begin = b * config_.batch_size;
    const int64_t end = std::min(begin + config_.batch_size, data_->size());
    std::vector<int64_t> indices(order_.begin() + begin, order_.begin() + end);
    TokenBatchTensors batch = data_->batch(indices);
    at::Tensor loss;
    if (config_.masking) {  // MLM: masks drawn from (seed, epoch, example), loss at the masked positions
      MaskedTokens m = mask_tokens(batch.input_ids, batch.attention_mask, indices, config_.seed, epoch, *config_.masking);
      loss = masked_lm_forward(*model_, m.input_ids, batch.attention_mask, m.labels, options, false).loss;
    } else {
      options.risk = batch.risk;  // features for the risk head (none: undefined)
      ForwardOutputs out = model_->forward(batch.input_ids, batch.attention_mask, options);
      loss = classification_loss(out.logits, batch.labels, config_.loss);
    }
    loss_sum += loss.item<double>();
    (loss / static_cast<double>(micro_batches)).backward();
    samples += end - begin;
  }
  std::vector<at::Tensor> grads;
  for (const auto& p : params) grads.push_back(p.grad());
  const double norm = config_.max_grad_norm > 0 ? clip_grad_norm(grads, config_.max_grad_norm).total_norm
                                                : global_grad_norm(grads);
  const double lr = scheduled_lr(config_.schedule, config_.learning_rate, global_step_, warmup_, total_steps_);
  optimizer_->step(grads, lr);
  ++global_step_;
  last_.step = global_step_;
  last_.total_steps = total_steps_;
  last_.epoch = static_cast<double>(global_step_) / static_cast<double>(steps_per_epoch_);
  last_.loss = loss_sum / static_cast<double>(micro_batches);
  last_.learning_rate = scheduled_lr(config_.schedule, config_.learning_rate, global_step_, warmup_, total_steps_);
  last_.grad_norm = norm;
  last_.samples = samples;
  return last_.loss;
}

void TrainLoop::run(int64_t until_step, const std::atomic<bool>& abort,
                    const std::function<void(const StepReport&)>& on_step) {
  const int64_t target = std::min(until_step, total_steps_);
  while (global_step_ < target && !abort.load()) {
    train_step();
    if (on_step) on_step(last_);
  }
}

NamedTensors TrainLoop::state() const {
  NamedTensors out;
  for (auto& [name, tensor] : optimizer_->state_dict()) out.emplace_back("optimizer." + name, tensor);
  out.emplace_back("trainer.global_step", at::tensor({global_step_}, at::kLong));
  out.emplace_back("trainer.rng_state", model_->rng_state());
  return out;
}

void TrainLoop::load_state(const std::map<std::string, at::Tensor>& state) {
  std::map<std::string, at::Tensor> optimizer;
  for (const auto& [name, tensor] : state)
    if (name.rfind("optimizer.", 0) == 0) optimizer[name.substr(10)] = tensor;
  for (const char* key : {"trainer.global_step", "trainer.rng_state"})
    if (!state.count(key)) fail(code::kMissingTensor, std::string("the checkpoint has no \"") + key + "\"");
  const int64_t step = state.at("trainer.global_step").item<int64_t>();
  if (step < 0 || step > total_steps_)
    fail(code::kInvalidArgument, "the checkpoint is at step " + std::to_string(step) + " but this run has " +
                                     std::to_string(total_steps_) + " steps: resume with the same data and settings");
  optimizer_->load_state_dict(optimizer);
  model_->set_rng_state(state.at("trainer.rng_state"));
  global_step_ = step;
  order_epoch_ = -1;
}

}  // namespace lora
