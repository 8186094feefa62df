// Optimizer pieces for tests and tools: LR schedules, warmup steps, and AdamW
// runs with optional global-norm clipping. Synchronous: the tensors are small
// (the training loop itself drives core/adamw.h on its own thread).
//
//   lrSchedule(kind, baseLr, warmupSteps, totalSteps, steps) -> Float64Array of lr[0..steps]
//   warmupSteps(warmupSteps, warmupRatio, totalSteps) -> number
//   adamwRun({ params, shapes?, gradSteps, lr, betas, eps, weightDecay, maxGradNorm?,
//              device?, roundTripState? })
//     -> { params: Array<Record<string, Float32Array>>, totalNorms: number[], coefs: number[],
//          weightDecays: Record<string, number> }
//
// adamwRun: params maps names to start values; gradSteps[s] maps every name to
// step s's gradient. lr is a number or one number per step. Each parameter's
// decay is weight_decay_for(name, weightDecay) (the Trainer's grouping). Every
// step first takes the global gradient norm, clipping by it when maxGradNorm is
// given (coef 1 otherwise), then runs AdamW. With roundTripState the optimizer
// is rebuilt from its state_dict() after every step, as a resume would.
#include <napi.h>

#include <ATen/ATen.h>

#include <cmath>
#include <cstring>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "addon/bindings.h"
#include "addon/js_values.h"
#include "addon/napi_errors.h"
#include "addon/tensor_convert.h"
#include "core/adamw.h"
#include "core/errors.h"
#include "core/lr_schedule.h"
#include "core/runtime.h"

namespace lora::addon {

namespace {

constexpr double kMaxSafeInteger = 9007199254740991.0;







double finite_number(Napi::Env env, const Napi::Value& value, const std::string& name) {
  if (!value.IsNumber() || !std::isfinite(value.As<Napi::Number>().DoubleValue()))
    throw_expected(env, "a finite number", name, value);
  return value.As<Napi::Number>().DoubleValue();
}

int64_t non_negative_int(Napi::Env env, const Napi::Value& value, const std::string& name) {
  const double d = value.IsNumber() ? value.As<Napi::Number>().DoubleValue() : -1;
  if (!value.IsNumber() || !(d >= 0) || std::floor(d) != d || d > kMaxSafeInteger)
    throw_expected(env, "a non-negative integer", name, value);
  return static_cast<int64_t>(d);
}

// --- lrSchedule / warmupSteps ---

Napi::Value lr_schedule_js(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString()) throw_expected(env, "'linear', 'cosine' or 'constant'", "kind", info[0]);
  const std::string kind_name = info[0].As<Napi::String>().Utf8Value();
  if (kind_name != "linear" && kind_name != "cosine" && kind_name != "constant")
    throw_expected(env, "'linear', 'cosine' or 'constant'", "kind", info[0]);
  const double base_lr = finite_number(env, info[1], "baseLr");
  if (base_lr < 0) throw_expected(env, "a non-negative number", "baseLr", info[1]);
  const int64_t warmup = non_negative_int(env, info[2], "warmupSteps");
  const int64_t total = non_negative_int(env, info[3], "totalSteps");
  const int64_t steps = non_negative_int(env, info[4], "steps");
  if (steps > 10'000'000) throw_expected(env, "at most 10000000 steps", "steps", info[4]);
  std::vector<double> lrs(static_cast<size_t>(steps) + 1);
  guarded(env, [&] {
    const ScheduleKind kind = parse_schedule_kind(kind_name);
    for (int64_t k = 0; k <= steps; ++k) lrs[k] = scheduled_lr(kind, base_lr, k, warmup, total);
  });
  Napi::Float64Array out = Napi::Float64Array::New(env, lrs.size());
  std::memcpy(out.Data(), lrs.data(), lrs.size() * sizeof(double));
  return out;
}

Napi::Value warmup_steps_js(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int64_t steps = non_negative_int(env, info[0], "warmupSteps");
  const double ratio = finite_number(env, info[1], "warmupRatio");
  const int64_t total = non_negative_int(env, info[2], "totalSteps");
  const int64_t result = guarded(env, [&] { return warmup_steps(steps, ratio, total); });
  return Napi::Number::New(env, static_cast<double>(result));
}

// --- adamwRun ---

at::Tensor float32_tensor(Napi::Env env, const Napi::Value& value, const std::string& name,
                          const std::vector<int64_t>& shape) {
  if (!value.IsTypedArray() || value.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
    throw_expected(env, "a Float32Array", name, value);
  Napi::Float32Array array = value.As<Napi::Float32Array>();
  int64_t count = 1;
  for (int64_t d : shape) count *= d;
  if (static_cast<int64_t>(array.ElementLength()) != count)
    throw_expected(env, "a Float32Array of length " + std::to_string(count), name, value);
  at::Tensor t = at::empty(shape, at::kFloat);
  if (count > 0) std::memcpy(t.data_ptr<float>(), array.Data(), count * sizeof(float));
  return t;
}

std::vector<int64_t> shape_of(Napi::Env env, const Napi::Object& options, const std::string& key, size_t length) {
  Napi::Value shapes = options.Get("shapes");
  if (shapes.IsUndefined()) return {static_cast<int64_t>(length)};
  if (!is_plain_object(shapes)) throw_expected(env, "an object of shapes", "options.shapes", shapes);
  Napi::Value shape = shapes.As<Napi::Object>().Get(key);
  const std::string name = "options.shapes[" + js_quoted(key) + "]";
  if (shape.IsUndefined()) return {static_cast<int64_t>(length)};
  if (!shape.IsArray()) throw_expected(env, "an array of non-negative integers", name, shape);
  Napi::Array array = shape.As<Napi::Array>();
  std::vector<int64_t> out;
  for (uint32_t i = 0; i < array.Length(); ++i)
    out.push_back(non_negative_int(env, array.Get(i), name + "[" + std::to_string(i) + "]"));
  return out;
}

Napi::Object tensors_to_js(Napi::Env env, const std::vector<NamedParameter>& params) {
  Napi::Object out = Napi::Object::New(env);
  for (const NamedParameter& p : params) define(out, p.name, tensor_to_float32_array(env, p.tensor));
  return out;
}

Napi::Value adamw_run_js(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!is_plain_object(info[0])) throw_expected(env, "an options object", "options", info[0]);
  Napi::Object options = info[0].As<Napi::Object>();

  c10::Device device(c10::kCPU);
  const std::string device_name = string_option(env, options, "device", "cpu");
  guarded(env, [&] { device = resolve_device(device_name); });

  // params
  Napi::Value params_value = options.Get("params");
  if (!is_plain_object(params_value))
    throw_expected(env, "an object mapping names to Float32Arrays", "options.params", params_value);
  Napi::Object params_object = params_value.As<Napi::Object>();
  const std::vector<std::string> names = own_keys(env, params_object);
  if (names.empty()) throw_expected(env, "at least one parameter", "options.params", params_value);

  // hyperparameters
  AdamWOptions hyper;
  Napi::Value betas = options.Get("betas");
  if (!betas.IsArray() || betas.As<Napi::Array>().Length() != 2)
    throw_expected(env, "an array [beta1, beta2]", "options.betas", betas);
  hyper.beta1 = finite_number(env, betas.As<Napi::Array>().Get(0u), "options.betas[0]");
  hyper.beta2 = finite_number(env, betas.As<Napi::Array>().Get(1u), "options.betas[1]");
  hyper.eps = finite_number(env, options.Get("eps"), "options.eps");
  const double weight_decay = finite_number(env, options.Get("weightDecay"), "options.weightDecay");
  if (weight_decay < 0) throw_expected(env, "a non-negative number", "options.weightDecay", options.Get("weightDecay"));
  Napi::Value max_norm_value = options.Get("maxGradNorm");
  const bool clip = !max_norm_value.IsUndefined();
  const double max_norm = clip ? finite_number(env, max_norm_value, "options.maxGradNorm") : 0;
  if (clip && max_norm <= 0) throw_expected(env, "a positive number", "options.maxGradNorm", max_norm_value);
  Napi::Value round_trip_value = options.Get("roundTripState");
  if (!round_trip_value.IsUndefined() && !round_trip_value.IsBoolean())
    throw_expected(env, "a boolean", "options.roundTripState", round_trip_value);
  const bool round_trip = round_trip_value.IsBoolean() && round_trip_value.As<Napi::Boolean>().Value();

  std::vector<NamedParameter> params;
  for (const std::string& name : names) {
    Napi::Value v = params_object.Get(name);
    const size_t length = v.IsTypedArray() ? v.As<Napi::TypedArray>().ElementLength() : 0;
    at::Tensor t = float32_tensor(env, v, "options.params[" + js_quoted(name) + "]", shape_of(env, options, name, length));
    params.push_back({name, t, weight_decay_for(name, weight_decay)});
  }

  // gradSteps
  Napi::Value steps_value = options.Get("gradSteps");
  if (!steps_value.IsArray()) throw_expected(env, "an array of gradient objects", "options.gradSteps", steps_value);
  Napi::Array steps_array = steps_value.As<Napi::Array>();
  std::vector<std::vector<at::Tensor>> grad_steps;
  for (uint32_t s = 0; s < steps_array.Length(); ++s) {
    const std::string step_name = "options.gradSteps[" + std::to_string(s) + "]";
    Napi::Value step = steps_array.Get(s);
    if (!is_plain_object(step)) throw_expected(env, "an object mapping names to Float32Arrays", step_name, step);
    Napi::Object grads_object = step.As<Napi::Object>();
    for (const std::string& key : own_keys(env, grads_object))
      if (!params_object.HasOwnProperty(key))
        throw make_error(env, code::kInvalidArgument,
                         "Expected only parameter names in " + step_name + " but received the unknown name " +
                             js_quoted(key));
    std::vector<at::Tensor> grads;
    for (const NamedParameter& p : params) {
      const std::string name = step_name + "[" + js_quoted(p.name) + "]";
      Napi::Value g = grads_object.Get(p.name);
      if (g.IsUndefined() && !grads_object.HasOwnProperty(p.name))
        throw make_error(env, code::kInvalidArgument,
                         "Expected a gradient for " + js_quoted(p.name) + " in " + step_name + " but received none");
      grads.push_back(float32_tensor(env, g, name, p.tensor.sizes().vec()));
    }
    grad_steps.push_back(std::move(grads));
  }

  // lr: one number, or one per step
  Napi::Value lr_value = options.Get("lr");
  std::vector<double> lrs;
  if (lr_value.IsArray()) {
    Napi::Array array = lr_value.As<Napi::Array>();
    if (array.Length() != grad_steps.size())
      throw_expected(env, "one learning rate per step (" + std::to_string(grad_steps.size()) + ")", "options.lr",
                     lr_value);
    for (uint32_t i = 0; i < array.Length(); ++i)
      lrs.push_back(finite_number(env, array.Get(i), "options.lr[" + std::to_string(i) + "]"));
  } else {
    lrs.assign(grad_steps.size(), finite_number(env, lr_value, "options.lr"));
  }
  hyper.lr = lrs.empty() ? 0.0 : lrs[0];

  std::vector<std::vector<NamedParameter>> history;
  std::vector<double> total_norms, coefs;
  guarded(env, [&] {
    for (NamedParameter& p : params) p.tensor = p.tensor.to(device);
    for (auto& grads : grad_steps)
      for (at::Tensor& g : grads) g = g.to(device);
    auto optimizer = std::make_unique<AdamW>(params, hyper);
    for (size_t s = 0; s < grad_steps.size(); ++s) {
      if (clip) {
        const ClipResult r = clip_grad_norm(grad_steps[s], max_norm);
        total_norms.push_back(r.total_norm);
        coefs.push_back(r.coef);
      } else {
        total_norms.push_back(global_grad_norm(grad_steps[s]));
        coefs.push_back(1.0);
      }
      optimizer->step(grad_steps[s], lrs[s]);
      std::vector<NamedParameter> snapshot = params;
      for (NamedParameter& p : snapshot) p.tensor = p.tensor.to(at::kCPU).clone();
      history.push_back(std::move(snapshot));
      if (round_trip) {
        std::map<std::string, at::Tensor> state;
        for (auto& [key, tensor] : optimizer->state_dict()) state[key] = tensor;
        optimizer = std::make_unique<AdamW>(params, hyper);
        optimizer->load_state_dict(state);
      }
    }
  });

  Napi::Object out = Napi::Object::New(env);
  Napi::Array history_js = Napi::Array::New(env, history.size());
  for (uint32_t s = 0; s < history.size(); ++s) history_js.Set(s, tensors_to_js(env, history[s]));
  Napi::Array norms_js = Napi::Array::New(env, total_norms.size());
  Napi::Array coefs_js = Napi::Array::New(env, coefs.size());
  for (uint32_t s = 0; s < total_norms.size(); ++s) {
    norms_js.Set(s, Napi::Number::New(env, total_norms[s]));
    coefs_js.Set(s, Napi::Number::New(env, coefs[s]));
  }
  Napi::Object decays = Napi::Object::New(env);
  for (const NamedParameter& p : params) define(decays, p.name, Napi::Number::New(env, p.weight_decay));
  out.Set("params", history_js);
  out.Set("totalNorms", norms_js);
  out.Set("coefs", coefs_js);
  out.Set("weightDecays", decays);
  return out;
}

}  // namespace

void register_optim(Napi::Env env, Napi::Object exports) {
  exports.Set("lrSchedule", Napi::Function::New(env, lr_schedule_js, "lrSchedule"));
  exports.Set("warmupSteps", Napi::Function::New(env, warmup_steps_js, "warmupSteps"));
  exports.Set("adamwRun", Napi::Function::New(env, adamw_run_js, "adamwRun"));
}

}  // namespace lora::addon
