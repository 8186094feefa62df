// Learning-rate schedules with warmup, exactly as transformers'
// get_{linear,cosine,constant}_schedule_with_warmup drive torch's LambdaLR:
// lr(k) = base_lr * lr_lambda(k). The Trainer steps the optimizer, then the
// scheduler, so optimizer step k (0-based) uses lr(k) and the first update has
// lr(0) = 0 whenever there is warmup.
#pragma once

#include <cstdint>
#include <string>

namespace lora {

enum class ScheduleKind { Linear, Cosine, Constant };  // Constant = constant_with_warmup

// 'linear' | 'cosine' | 'constant' (also 'constant_with_warmup'); ERR_INVALID_ARGUMENT otherwise.
ScheduleKind parse_schedule_kind(const std::string& name);
const char* schedule_kind_name(ScheduleKind kind);

// The LambdaLR multiplier at scheduler step `step` (0-based):
//   step < warmup:  step / max(1, warmup)
//   linear:         max(0, (total - step) / max(1, total - warmup))
//   cosine:         max(0, 0.5 * (1 + cos(pi * num_cycles * 2 * progress))),
//                   progress = (step - warmup) / max(1, total - warmup)
//   constant:       1
// Requires step >= 0, warmup >= 0, total >= 0, finite num_cycles.
double lr_lambda(ScheduleKind kind, int64_t step, int64_t warmup, int64_t total, double num_cycles = 0.5);

// lr(step) = base_lr * lr_lambda(...), the value LambdaLR sets (and the Trainer logs).
double scheduled_lr(ScheduleKind kind, double base_lr, int64_t step, int64_t warmup, int64_t total,
                    double num_cycles = 0.5);

// TrainingArguments.get_warmup_steps: warmup_steps if > 0, else ceil(total * ratio)
// with the product computed in float64 (100 * 0.07 = 7.000000000000001 -> 8).
// Requires warmup_steps >= 0, ratio in [0, 1] (as TrainingArguments checks), total >= 0.
int64_t warmup_steps(int64_t warmup_steps, double warmup_ratio, int64_t total);

}  // namespace lora
