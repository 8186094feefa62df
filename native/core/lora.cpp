#include "core/lora.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <cmath>

#include "core/errors.h"
#include "core/fast_dropout.h"

namespace lora {

double lora_scale(double alpha, int64_t r, bool use_rslora) {
  return use_rslora ? alpha / std::sqrt(static_cast<double>(r)) : alpha / static_cast<double>(r);
}

at::Tensor dropout(const at::Tensor& x, double p, bool train, c10::optional<at::Generator> generator) {
  if (!train || p <= 0.0) return x;
  if (p >= 1.0) return at::zeros_like(x);
  // CPU: counter-based masks, one pass, regenerated in backward (fast_dropout.h).
  const at::Generator cpu_generator = generator.has_value() ? *generator : at::detail::getDefaultCPUGenerator();
  if (x.is_cpu() && cpu_generator.device().is_cpu() && (x.scalar_type() == at::kFloat || x.scalar_type() == at::kBFloat16))
    return keyed_dropout(x, p, draw_dropout_key(cpu_generator));
  // keep ~ Bernoulli(1 - p), scaled by 1/(1 - p) as torch.nn.Dropout does.
  at::Tensor keep = at::empty_like(x).bernoulli_(1.0 - p, generator);
  return x * keep / (1.0 - p);
}

at::Tensor LoraAdapter::delta(const at::Tensor& x, bool train, c10::optional<at::Generator> generator, double extra) const {
  at::Tensor h = lora::dropout(x, dropout, train, generator);
  const auto dtype = x.scalar_type();
  at::Tensor a = A.scalar_type() == dtype ? A : A.to(dtype);
  at::Tensor b = B.scalar_type() == dtype ? B : B.to(dtype);
  return at::linear(at::linear(h, a) * (scale * extra), b);
}

LoraAdapter make_lora_adapter(int64_t in, int64_t out, const LoraModuleSpec& spec, const LoraSpec& all,
                              at::Generator generator, const at::TensorOptions& options) {
  if (spec.r < 1) fail(code::kInvalidArgument, "Expected r >= 1 for " + spec.module + " but received " + std::to_string(spec.r));
  LoraAdapter a;
  a.scale = lora_scale(spec.alpha, spec.r, all.use_rslora);
  a.dropout = all.dropout;
  // Initialise on the CPU with our generator (reproducible on every device), then move.
  at::Tensor A = at::empty({spec.r, in}, at::kFloat);
  switch (all.init) {
    case LoraInit::Kaiming: {
      const double bound = 1.0 / std::sqrt(static_cast<double>(in));  // kaiming_uniform_(a=√5) on [r, in]
      A.uniform_(-bound, bound, generator);
      break;
    }
    case LoraInit::Gaussian:
      A.normal_(0.0, 1.0 / static_cast<double>(spec.r), generator);
      break;
    case LoraInit::Zeros:
      A.zero_();
      break;
  }
  a.A = A.to(options);
  a.B = at::zeros({out, spec.r}, options);
  return a;
}

}  // namespace lora
