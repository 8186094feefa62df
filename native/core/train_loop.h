// The training loop: AdamW over the model's trainable parameters, a warmup
// schedule, gradient accumulation and clipping, as transformers' Trainer
// drives them. It runs on a native thread; JavaScript sees one report per
// optimizer step and takes over only between runs (evaluation, checkpoints).
#pragma once

#include <ATen/core/Tensor.h>

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/adamw.h"
#include "core/distilbert.h"
#include "core/loss.h"
#include "core/lr_schedule.h"
#include "core/mlm_masking.h"
#include "core/token_dataset.h"

namespace lora {

struct TrainConfig {
  int64_t epochs = 3;
  int64_t batch_size = 16;
  double learning_rate = 5e-5;
  double weight_decay = 0.0;
  int64_t warmup_steps = 0;
  double warmup_ratio = 0.0;
  ScheduleKind schedule = ScheduleKind::Linear;
  double max_grad_norm = 1.0;  // <= 0 turns clipping off
  int64_t gradient_accumulation = 1;
  uint64_t seed = 42;
  AdamWOptions adam;
  LossOptions loss;
  // Masked-language-model training (checked spec, see mlm_masking.h); null: classification.
  std::shared_ptr<const MaskingSpec> masking;
};

struct StepReport {
  int64_t step = 0;          // optimizer steps done
  int64_t total_steps = 0;
  double epoch = 0;          // fractional epochs done
  double loss = 0;           // mean loss of this step's micro-batches
  double learning_rate = 0;  // lr after this step (what the Trainer logs)
  double grad_norm = 0;      // before clipping
  int64_t samples = 0;       // examples seen in this step
};

class TrainLoop {
 public:
  TrainLoop(std::shared_ptr<DistilBertClassifier> model, std::shared_ptr<const TokenDataset> data, TrainConfig config);

  // Optimizer steps until `until_step` are done, training ends, or `abort` is
  // set (checked before each step). on_step runs on this thread after each step.
  void run(int64_t until_step, const std::atomic<bool>& abort, const std::function<void(const StepReport&)>& on_step);

  int64_t global_step() const { return global_step_; }
  int64_t total_steps() const { return total_steps_; }
  int64_t steps_per_epoch() const { return steps_per_epoch_; }
  int64_t warmup() const { return warmup_; }
  bool finished() const { return global_step_ >= total_steps_; }

  // Everything a resumed run needs besides the trainable weights: optimizer
  // moments and counts, the step, and the dropout generator's state.
  NamedTensors state() const;
  void load_state(const std::map<std::string, at::Tensor>& state);

 private:
  std::vector<int64_t> epoch_order(int64_t epoch) const;
  double train_step();

  std::shared_ptr<DistilBertClassifier> model_;
  std::shared_ptr<const TokenDataset> data_;
  TrainConfig config_;
  std::unique_ptr<AdamW> optimizer_;
  int64_t batches_per_epoch_ = 0;
  int64_t steps_per_epoch_ = 0;
  int64_t total_steps_ = 0;
  int64_t warmup_ = 0;
  int64_t global_step_ = 0;
  // Cached order of the current epoch (recomputed from the seed when the epoch changes).
  int64_t order_epoch_ = -1;
  std::vector<int64_t> order_;
  StepReport last_;
};

}  // namespace lora
