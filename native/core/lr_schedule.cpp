// Sources: transformers/optimization.py (_get_*_schedule_with_warmup_lr_lambda)
// and transformers/training_args.py (get_warmup_steps). The arithmetic is
// written in the same order as the Python so that the float64 results are
// bit-identical (the golden schedule is compared with exact equality).
#include "core/lr_schedule.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "core/errors.h"
#include "core/text_format.h"

namespace lora {

namespace {
[[noreturn]] void expected(const std::string& what, const char* name, double received) {
  fail(code::kInvalidArgument, "Expected " + what + " for " + name + " but received number " + number_text(received));
}

void require_non_negative(int64_t value, const char* name) {
  if (value < 0) expected("a non-negative integer", name, static_cast<double>(value));
}

}  // namespace

ScheduleKind parse_schedule_kind(const std::string& name) {
  if (name == "linear") return ScheduleKind::Linear;
  if (name == "cosine") return ScheduleKind::Cosine;
  if (name == "constant" || name == "constant_with_warmup") return ScheduleKind::Constant;
  fail(code::kInvalidArgument,
       "Expected 'linear', 'cosine' or 'constant' for scheduler but received the string \"" + name + "\"");
}

const char* schedule_kind_name(ScheduleKind kind) {
  switch (kind) {
    case ScheduleKind::Linear: return "linear";
    case ScheduleKind::Cosine: return "cosine";
    case ScheduleKind::Constant: return "constant";
  }
  return "unknown";
}

double lr_lambda(ScheduleKind kind, int64_t step, int64_t warmup, int64_t total, double num_cycles) {
  require_non_negative(step, "step");
  require_non_negative(warmup, "warmupSteps");
  require_non_negative(total, "totalSteps");
  if (!std::isfinite(num_cycles)) expected("a finite number", "numCycles", num_cycles);

  // float(current_step) / float(max(1, num_warmup_steps))
  if (step < warmup) return static_cast<double>(step) / static_cast<double>(std::max<int64_t>(1, warmup));
  switch (kind) {
    case ScheduleKind::Linear:
      // max(0.0, float(num_training_steps - current_step) / float(max(1, num_training_steps - num_warmup_steps)))
      return std::max(0.0, static_cast<double>(total - step) / static_cast<double>(std::max<int64_t>(1, total - warmup)));
    case ScheduleKind::Cosine: {
      // progress = float(current_step - num_warmup_steps) / float(max(1, num_training_steps - num_warmup_steps))
      // max(0.0, 0.5 * (1.0 + math.cos(math.pi * float(num_cycles) * 2.0 * progress)))
      const double progress =
          static_cast<double>(step - warmup) / static_cast<double>(std::max<int64_t>(1, total - warmup));
      const double angle = M_PI * num_cycles * 2.0 * progress;  // left to right, as Python evaluates it
      return std::max(0.0, 0.5 * (1.0 + std::cos(angle)));
    }
    case ScheduleKind::Constant:
      return 1.0;
  }
  return 1.0;
}

double scheduled_lr(ScheduleKind kind, double base_lr, int64_t step, int64_t warmup, int64_t total,
                    double num_cycles) {
  if (!std::isfinite(base_lr) || base_lr < 0) expected("a non-negative finite number", "learningRate", base_lr);
  // LambdaLR.get_lr: base_lr * lmbda(self.last_epoch)
  return base_lr * lr_lambda(kind, step, warmup, total, num_cycles);
}

int64_t warmup_steps(int64_t warmup_steps, double warmup_ratio, int64_t total) {
  require_non_negative(warmup_steps, "warmupSteps");
  require_non_negative(total, "totalSteps");
  // TrainingArguments.__post_init__: "warmup_ratio must lie in range [0,1]"
  if (!(warmup_ratio >= 0.0 && warmup_ratio <= 1.0)) expected("a number between 0 and 1", "warmupRatio", warmup_ratio);
  if (warmup_steps > 0) return warmup_steps;
  // math.ceil(num_training_steps * self.warmup_ratio): the float64 product, not the decimal one.
  return static_cast<int64_t>(std::ceil(static_cast<double>(total) * warmup_ratio));
}

}  // namespace lora
