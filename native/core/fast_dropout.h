// Inverted dropout for CPU training with counter-based masks (dropout_hash.h):
// one pass that draws the mask and scales, multi-threaded, no mask tensor; the
// backward regenerates the same mask from the call's key. Replaces
// bernoulli_ + mul + div (three passes, the first single-threaded).
#pragma once

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>

#include <cstdint>

namespace lora {

// One 64-bit key for a dropout call, drawn from a CPU generator (under its lock).
uint64_t draw_dropout_key(at::Generator generator);

// y = keep ? x / (1 - p) : 0 for a CPU float or bf16 tensor, 0 < p < 1;
// differentiable (the gradient takes the same mask and scale).
at::Tensor keyed_dropout(const at::Tensor& x, double p, uint64_t key);

// The raw kernel, no autograd: out may alias x. Both contiguous, same dtype (fp32 or bf16).
void keyed_dropout_kernel(const at::Tensor& x, at::Tensor& out, double p, uint64_t key);

}  // namespace lora
