// The fused training kernels (core/fast_dropout.h, core/train_fused.h) beside
// the ATen ops they replace, for tests and benchmarks/train/ops.mjs.
// Synchronous: inputs are small in tests, and the benchmark wants the JS thread idle anyway.
//
//   trainOpsDropout({ input, dtype, p, seed, calls, grad? })
//     -> { outputs: Float32Array[], grads: Float32Array[] }
//        `calls` dropout calls on `input` with keys drawn from one generator seeded
//        with `seed` (as consecutive training steps draw them); grads: backward of
//        each for the upstream gradient `grad`.
//   trainOpsAttention({ scores, shape: [B, H, T, T], keyMask, dtype, p, seed, grad })
//     -> { fused: { out, gradScores }, reference: { out, gradScores } }
//        masked_softmax_dropout against the ATen composition masked_fill -> softmax
//        -> dropout with the same keyed mask, both differentiated for `grad`.
//   trainOpsResidualNorm({ y, residual, weight, bias, shape: [N, C], dtype, p, seed, grad, grad16 })
//     -> { fused: Grads, reference: Grads }, Grads = { out, out16, gradY, gradResidual, gradWeight, gradBias }
//        residual_dropout_layer_norm (eps 1e-12) against y.float() -> dropout (same keyed
//        mask) -> + residual -> layer_norm, with out16 = out.to(bf16); gradients for
//        `grad` on out plus `grad16` on out16.
//   trainOpsBiasGelu({ y, bias, shape: [N, F], dtype, grad })
//     -> { fused: { out, gradY, gradBias }, reference: { out, gradY, gradBias } }
//        bias_gelu against gelu(y + bias) (bias cast to y's dtype), differentiated for `grad`.
//   trainOpsBench({ op: 'dropout' | 'attention', dtype, shape, p, reps })
//     -> { fusedMs, atenMs }: medians (shape [B, H, T, T] for attention, any 4 sizes for dropout and
//        gelu, whose last size is the feature size) of forward + backward, fused vs the ATen ops.
#include <napi.h>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/core/grad_mode.h>
#include <torch/csrc/autograd/autograd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "addon/bindings.h"
#include "addon/js_values.h"
#include "addon/napi_errors.h"
#include "addon/tensor_convert.h"
#include "core/fast_dropout.h"
#include "core/train_fused.h"

namespace lora::addon {
namespace {

at::Tensor float32_input(Napi::Env env, const Napi::Object& o, const char* key, int64_t count) {
  Napi::Value v = o.Get(key);
  const std::string name = std::string("options.") + key;
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
    throw_expected(env, "a Float32Array", name, v);
  auto a = v.As<Napi::Float32Array>();
  if (count >= 0 && static_cast<int64_t>(a.ElementLength()) != count)
    throw_expected(env, "a Float32Array of length " + std::to_string(count), name, v);
  at::Tensor t = at::empty({static_cast<int64_t>(a.ElementLength())}, at::kFloat);
  if (t.numel() > 0) std::memcpy(t.data_ptr<float>(), a.Data(), t.numel() * sizeof(float));
  return t;
}

double probability(Napi::Env env, const Napi::Object& o) {
  Napi::Value v = o.Get("p");
  if (!v.IsNumber() || !(v.As<Napi::Number>().DoubleValue() >= 0) || !(v.As<Napi::Number>().DoubleValue() < 1))
    throw_expected(env, "a number in [0, 1)", "options.p", v);
  return v.As<Napi::Number>().DoubleValue();
}

at::ScalarType dtype_option(Napi::Env env, const Napi::Object& o) {
  const std::string d = string_option(env, o, "dtype", "float32");
  if (d == "float32") return at::kFloat;
  if (d == "bfloat16") return at::kBFloat16;
  throw_expected(env, "'float32' or 'bfloat16'", "options.dtype", o.Get("dtype"));
  return at::kFloat;
}

uint64_t seed_option(Napi::Env env, const Napi::Object& o) {
  Napi::Value v = o.Get("seed");
  const double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : -1;
  if (!(d >= 0) || d != static_cast<double>(static_cast<int64_t>(d)) || d > 9007199254740991.0)
    throw_expected(env, "a non-negative integer", "options.seed", v);
  return static_cast<uint64_t>(d);
}

std::vector<int64_t> shape4(Napi::Env env, const Napi::Object& o, bool square) {
  Napi::Value v = o.Get("shape");
  if (!v.IsArray() || v.As<Napi::Array>().Length() != 4) throw_expected(env, "[B, H, T, T]", "options.shape", v);
  std::vector<int64_t> s;
  for (uint32_t i = 0; i < 4; ++i) s.push_back(positive_int(env, v.As<Napi::Array>().Get(i), "options.shape[i]"));
  if ((square && s[2] != s[3]) || s[0] * s[1] * s[2] * s[3] > (int64_t{1} << 28))
    throw_expected(env, "[B, H, T, T] with at most 2^28 elements", "options.shape", v);
  return s;
}

Napi::Array arrays_to_js(Napi::Env env, const std::vector<at::Tensor>& ts) {
  Napi::Array out = Napi::Array::New(env, ts.size());
  for (uint32_t i = 0; i < ts.size(); ++i) out.Set(i, tensor_to_float32_array(env, ts[i]));
  return out;
}

// The ATen composition the fused kernel replaces; `keep` is the keyed mask as 0/1.
at::Tensor reference_attention(const at::Tensor& scores, const at::Tensor& key_mask, double p, const at::Tensor& keep) {
  const c10::Scalar lowest = scores.scalar_type() == at::kFloat ? c10::Scalar(std::numeric_limits<float>::lowest())
                                                                : c10::Scalar(-3.3895313892515355e38);
  at::Tensor probs = at::softmax(scores.masked_fill(key_mask, lowest), -1);
  return p > 0 ? probs * keep / (1.0 - p) : probs;
}

// The mask keyed_dropout would draw for `key`, as 0/1 in `dtype`.
at::Tensor keyed_mask(at::IntArrayRef shape, at::ScalarType dtype, double p, uint64_t key) {
  at::Tensor ones = at::ones(shape, at::kFloat);
  keyed_dropout_kernel(ones, ones, p, key);
  return (ones != 0).to(dtype);
}

Napi::Value dropout_js(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!is_plain_object(info[0])) throw_expected(env, "an options object", "options", info[0]);
  Napi::Object o = info[0].As<Napi::Object>();
  at::Tensor input = float32_input(env, o, "input", -1);
  const auto dtype = dtype_option(env, o);
  const double p = probability(env, o);
  const uint64_t seed = seed_option(env, o);
  const int64_t calls = positive_int(env, o.Get("calls"), "options.calls");
  if (calls > 64) throw_expected(env, "at most 64 calls", "options.calls", o.Get("calls"));
  at::Tensor grad = o.Get("grad").IsUndefined() ? at::Tensor() : float32_input(env, o, "grad", input.numel());
  std::vector<at::Tensor> outputs, grads;
  guarded(env, [&] {
    at::AutoGradMode enable(true);
    auto generator = at::make_generator<at::CPUGeneratorImpl>(seed);
    for (int64_t c = 0; c < calls; ++c) {
      at::Tensor x = input.to(dtype).requires_grad_(true);
      at::Tensor y = p > 0 ? keyed_dropout(x, p, draw_dropout_key(generator)) : x * 1;
      outputs.push_back(y.detach());
      if (grad.defined()) {
        y.backward(grad.to(dtype));
        grads.push_back(x.grad());
      }
    }
  });
  Napi::Object out = Napi::Object::New(env);
  out.Set("outputs", arrays_to_js(env, outputs));
  out.Set("grads", arrays_to_js(env, grads));
  return out;
}

struct AttentionInputs {
  at::Tensor scores, key_mask, grad;
  at::ScalarType dtype;
  double p;
  uint64_t seed;
};

AttentionInputs attention_inputs(Napi::Env env, const Napi::Object& o) {
  const auto s = shape4(env, o, true);
  AttentionInputs in;
  in.dtype = dtype_option(env, o);
  in.p = probability(env, o);
  in.seed = seed_option(env, o);
  in.scores = float32_input(env, o, "scores", s[0] * s[1] * s[2] * s[3]).view(s).to(in.dtype);
  in.grad = float32_input(env, o, "grad", s[0] * s[1] * s[2] * s[3]).view(s).to(in.dtype);
  Napi::Value m = o.Get("keyMask");
  if (!m.IsTypedArray() || m.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array ||
      static_cast<int64_t>(m.As<Napi::Uint8Array>().ElementLength()) != s[0] * s[3])
    throw_expected(env, "a Uint8Array of length B·T (1 = padding key)", "options.keyMask", m);
  at::Tensor mask = at::empty({s[0], s[3]}, at::kByte);
  std::memcpy(mask.data_ptr(), m.As<Napi::Uint8Array>().Data(), mask.numel());
  in.key_mask = (mask != 0).view({s[0], 1, 1, s[3]});
  return in;
}

Napi::Value attention_js(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!is_plain_object(info[0])) throw_expected(env, "an options object", "options", info[0]);
  const AttentionInputs in = attention_inputs(env, info[0].As<Napi::Object>());
  at::Tensor fused_out, fused_grad, ref_out, ref_grad;
  guarded(env, [&] {
    at::AutoGradMode enable(true);
    at::Tensor a = in.scores.clone().requires_grad_(true);
    fused_out = masked_softmax_dropout(a, in.key_mask, in.p, at::make_generator<at::CPUGeneratorImpl>(in.seed));
    fused_out.backward(in.grad);
    fused_grad = a.grad();
    auto generator = at::make_generator<at::CPUGeneratorImpl>(in.seed);
    const at::Tensor keep = in.p > 0 ? keyed_mask(in.scores.sizes(), in.dtype, in.p, draw_dropout_key(generator)) : at::Tensor();
    at::Tensor b = in.scores.clone().requires_grad_(true);
    ref_out = reference_attention(b, in.key_mask, in.p, keep);
    ref_out.backward(in.grad);
    ref_grad = b.grad();
  });
  auto pair = [&](const at::Tensor& out, const at::Tensor& g) {
    Napi::Object r = Napi::Object::New(env);
    r.Set("out", tensor_to_float32_array(env, out));
    r.Set("gradScores", tensor_to_float32_array(env, g));
    return r;
  };
  Napi::Object out = Napi::Object::New(env);
  out.Set("fused", pair(fused_out, fused_grad));
  out.Set("reference", pair(ref_out, ref_grad));
  return out;
}

Napi::Value residual_norm_js(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!is_plain_object(info[0])) throw_expected(env, "an options object", "options", info[0]);
  Napi::Object o = info[0].As<Napi::Object>();
  Napi::Value shape = o.Get("shape");
  if (!shape.IsArray() || shape.As<Napi::Array>().Length() != 2) throw_expected(env, "[N, C]", "options.shape", shape);
  const int64_t N = positive_int(env, shape.As<Napi::Array>().Get(0u), "options.shape[0]");
  const int64_t C = positive_int(env, shape.As<Napi::Array>().Get(1u), "options.shape[1]");
  if (N * C > (int64_t{1} << 26)) throw_expected(env, "at most 2^26 elements", "options.shape", shape);
  const auto dtype = dtype_option(env, o);
  const double p = probability(env, o);
  const uint64_t seed = seed_option(env, o);
  const at::Tensor y = float32_input(env, o, "y", N * C).view({N, C}).to(dtype);
  const at::Tensor residual = float32_input(env, o, "residual", N * C).view({N, C});
  const at::Tensor weight = float32_input(env, o, "weight", C);
  const at::Tensor bias = float32_input(env, o, "bias", C);
  const at::Tensor grad = float32_input(env, o, "grad", N * C).view({N, C});
  const at::Tensor grad16 = float32_input(env, o, "grad16", N * C).view({N, C}).to(at::kBFloat16);
  constexpr double eps = 1e-12;
  std::vector<at::Tensor> fused, reference;  // out, out16, grad y, grad residual, grad weight, grad bias
  guarded(env, [&] {
    at::AutoGradMode enable(true);
    auto leaves = [&] {
      return std::vector<at::Tensor>{y.clone().requires_grad_(true), residual.clone().requires_grad_(true),
                                     weight.clone().requires_grad_(true), bias.clone().requires_grad_(true)};
    };
    auto run = [&](std::vector<at::Tensor> in, const at::Tensor& out, const at::Tensor& out16) {
      torch::autograd::backward({out, out16}, {grad, grad16});
      return std::vector<at::Tensor>{out.detach(), out16.detach(), in[0].grad(), in[1].grad(), in[2].grad(), in[3].grad()};
    };
    auto a = leaves();
    auto [out, out16] = residual_dropout_layer_norm(a[0], a[1], a[2], a[3], eps, p, at::make_generator<at::CPUGeneratorImpl>(seed), true);
    fused = run(a, out, out16);
    auto generator = at::make_generator<at::CPUGeneratorImpl>(seed);
    auto b = leaves();
    at::Tensor d = b[0].to(at::kFloat);
    if (p > 0) d = d * keyed_mask(y.sizes(), at::kFloat, p, draw_dropout_key(generator)) / (1.0 - p);
    at::Tensor ref = at::layer_norm(b[1] + d, {C}, b[2], b[3], eps);
    reference = run(b, ref, ref.to(at::kBFloat16));
  });
  auto grads_js = [&](const std::vector<at::Tensor>& t) {
    Napi::Object r = Napi::Object::New(env);
    const char* names[] = {"out", "out16", "gradY", "gradResidual", "gradWeight", "gradBias"};
    for (size_t i = 0; i < t.size(); ++i) r.Set(names[i], tensor_to_float32_array(env, t[i]));
    return r;
  };
  Napi::Object out = Napi::Object::New(env);
  out.Set("fused", grads_js(fused));
  out.Set("reference", grads_js(reference));
  return out;
}

Napi::Value bias_gelu_js(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!is_plain_object(info[0])) throw_expected(env, "an options object", "options", info[0]);
  Napi::Object o = info[0].As<Napi::Object>();
  Napi::Value shape = o.Get("shape");
  if (!shape.IsArray() || shape.As<Napi::Array>().Length() != 2) throw_expected(env, "[N, F]", "options.shape", shape);
  const int64_t N = positive_int(env, shape.As<Napi::Array>().Get(0u), "options.shape[0]");
  const int64_t F = positive_int(env, shape.As<Napi::Array>().Get(1u), "options.shape[1]");
  if (N * F > (int64_t{1} << 26)) throw_expected(env, "at most 2^26 elements", "options.shape", shape);
  const auto dtype = dtype_option(env, o);
  const at::Tensor y = float32_input(env, o, "y", N * F).view({N, F}).to(dtype);
  const at::Tensor bias = float32_input(env, o, "bias", F);
  const at::Tensor grad = float32_input(env, o, "grad", N * F).view({N, F}).to(dtype);
  std::vector<at::Tensor> fused, reference;  // out, grad y, grad bias
  guarded(env, [&] {
    at::AutoGradMode enable(true);
    auto run = [&](bool fuse) {
      at::Tensor yy = y.clone().requires_grad_(true);
      at::Tensor bb = bias.clone().requires_grad_(true);
      at::Tensor out = fuse ? bias_gelu(yy, bb) : at::gelu(yy + bb.to(dtype));
      out.backward(grad);
      return std::vector<at::Tensor>{out.detach(), yy.grad(), bb.grad()};
    };
    fused = run(true);
    reference = run(false);
  });
  auto js = [&](const std::vector<at::Tensor>& t) {
    Napi::Object r = Napi::Object::New(env);
    r.Set("out", tensor_to_float32_array(env, t[0]));
    r.Set("gradY", tensor_to_float32_array(env, t[1]));
    r.Set("gradBias", tensor_to_float32_array(env, t[2]));
    return r;
  };
  Napi::Object out = Napi::Object::New(env);
  out.Set("fused", js(fused));
  out.Set("reference", js(reference));
  return out;
}

template <typename Fn>
double median_ms(int64_t reps, const Fn& fn) {
  fn();  // warm-up
  std::vector<double> ms;
  for (int64_t r = 0; r < reps; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    fn();
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

Napi::Value bench_js(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!is_plain_object(info[0])) throw_expected(env, "an options object", "options", info[0]);
  Napi::Object o = info[0].As<Napi::Object>();
  const std::string op = string_option(env, o, "op", "");
  if (op != "dropout" && op != "attention" && op != "gelu")
    throw_expected(env, "'dropout', 'attention' or 'gelu'", "options.op", o.Get("op"));
  const auto s = shape4(env, o, op == "attention");
  const auto dtype = dtype_option(env, o);
  const double p = probability(env, o);
  const int64_t reps = positive_int(env, o.Get("reps"), "options.reps");
  double fused_ms = 0, aten_ms = 0;
  guarded(env, [&] {
    at::AutoGradMode enable(true);
    auto generator = at::make_generator<at::CPUGeneratorImpl>(1);
    at::Tensor x = at::randn(s, generator).to(dtype).requires_grad_(true);
    at::Tensor g = at::randn(s, generator).to(dtype);
    at::Tensor key_mask = at::zeros({s[0], 1, 1, s[3]}, at::kBool);
    auto run = [&](const at::Tensor& y) {
      y.backward(g);
      x.mutable_grad().reset();
    };
    if (op == "dropout") {
      fused_ms = median_ms(reps, [&] { run(keyed_dropout(x, p, draw_dropout_key(generator))); });
      aten_ms = median_ms(reps, [&] {
        at::Tensor keep = at::empty_like(x).bernoulli_(1.0 - p, generator);
        run(x * keep / (1.0 - p));
      });
    } else if (op == "gelu") {
      // The bias is frozen here, as in LoRA training; the ATen side adds it in y's dtype first.
      at::Tensor bias = at::randn({s[3]}, generator);
      at::Tensor bias_lowp = bias.to(dtype);
      fused_ms = median_ms(reps, [&] { run(bias_gelu(x, bias)); });
      aten_ms = median_ms(reps, [&] { run(at::gelu(x + bias_lowp)); });
    } else {
      fused_ms = median_ms(reps, [&] { run(masked_softmax_dropout(x, key_mask, p, generator)); });
      aten_ms = median_ms(reps, [&] {
        at::Tensor keep = at::empty_like(x).bernoulli_(1.0 - p, generator);
        at::Tensor probs = at::softmax(x.masked_fill(key_mask, -3.3895313892515355e38), -1);
        run(probs * keep / (1.0 - p));
      });
    }
  });
  Napi::Object out = Napi::Object::New(env);
  out.Set("fusedMs", Napi::Number::New(env, fused_ms));
  out.Set("atenMs", Napi::Number::New(env, aten_ms));
  return out;
}

}  // namespace

void register_train_ops(Napi::Env env, Napi::Object exports) {
  exports.Set("trainOpsDropout", Napi::Function::New(env, dropout_js, "trainOpsDropout"));
  exports.Set("trainOpsAttention", Napi::Function::New(env, attention_js, "trainOpsAttention"));
  exports.Set("trainOpsResidualNorm", Napi::Function::New(env, residual_norm_js, "trainOpsResidualNorm"));
  exports.Set("trainOpsBiasGelu", Napi::Function::New(env, bias_gelu_js, "trainOpsBiasGelu"));
  exports.Set("trainOpsBench", Napi::Function::New(env, bench_js, "trainOpsBench"));
}

}  // namespace lora::addon
