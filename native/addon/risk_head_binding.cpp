// The risk head (features beside the text, ordinal thresholds) on a NativeModel:
//   attachRiskHead(model, spec, seed)   fresh parameters, joined to model.trainableNames()
//   saveRiskHead(model, path) -> Promise   its "lora_node.*" tensors as safetensors
//   loadRiskHead(model, path) -> Promise
#include "addon/risk_head_binding.h"

#include <cstring>
#include <memory>
#include <string>

#include "addon/bindings.h"
#include "addon/js_values.h"
#include "addon/model_handle.h"
#include "addon/napi_errors.h"
#include "addon/promise_worker.h"
#include "addon/tensor_convert.h"
#include "core/risk_head.h"
#include "core/safetensors.h"

namespace lora::addon {
namespace {

std::vector<int64_t> int_list(Napi::Env env, const Napi::Object& o, const char* key) {
  std::vector<int64_t> out;
  if (!o.Has(key) || o.Get(key).IsUndefined()) return out;
  if (!o.Get(key).IsArray()) throw_expected(env, "an array of positive integers", std::string("spec.") + key, o.Get(key));
  Napi::Array a = o.Get(key).As<Napi::Array>();
  for (uint32_t i = 0; i < a.Length(); ++i) out.push_back(positive_int(env, a.Get(i), key));
  return out;
}

int64_t count_option(Napi::Env env, const Napi::Object& o, const char* key) {
  if (!o.Has(key) || o.Get(key).IsUndefined()) return 0;
  Napi::Value v = o.Get(key);
  if (!v.IsNumber() || v.As<Napi::Number>().DoubleValue() < 0 ||
      v.As<Napi::Number>().DoubleValue() != static_cast<double>(v.As<Napi::Number>().Int64Value()))
    throw_expected(env, "a non-negative integer", std::string("spec.") + key, v);
  return v.As<Napi::Number>().Int64Value();
}

// attachRiskHead(model, { numericWidth, categories, embeddingDims, hidden, ordinalClasses, ordinalThresholds }, seed)
Napi::Value attach_risk_head(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ModelAccess access = unwrap_model(env, info[0]);
  if (!is_plain_object(info[1])) throw_expected(env, "a risk head spec object", "spec", info[1]);
  Napi::Object o = info[1].As<Napi::Object>();
  RiskHeadSpec spec;
  spec.numeric_width = count_option(env, o, "numericWidth");
  spec.categories = int_list(env, o, "categories");
  spec.embedding_dims = int_list(env, o, "embeddingDims");
  spec.hidden = count_option(env, o, "hidden");
  spec.ordinal_classes = count_option(env, o, "ordinalClasses");
  if (o.Has("ordinalThresholds") && !o.Get("ordinalThresholds").IsUndefined()) {
    Napi::Value v = o.Get("ordinalThresholds");
    if (!v.IsArray()) throw_expected(env, "an array of numbers", "spec.ordinalThresholds", v);
    Napi::Array a = v.As<Napi::Array>();
    for (uint32_t i = 0; i < a.Length(); ++i) {
      if (!a.Get(i).IsNumber()) throw_expected(env, "a number", "spec.ordinalThresholds[" + std::to_string(i) + "]", a.Get(i));
      spec.ordinal_thresholds.push_back(a.Get(i).As<Napi::Number>().DoubleValue());
    }
  }
  const uint64_t seed = info[2].IsNumber() ? static_cast<uint64_t>(info[2].As<Napi::Number>().Int64Value()) : 42;
  auto model = access.model;
  guarded(env, [&] {
    auto head = std::make_shared<RiskHead>(spec, model->config().dim, model->config().num_labels(), model->device(), seed);
    model->attach_risk_head(head);
  });
  return env.Undefined();
}

std::shared_ptr<RiskHead> head_of(Napi::Env env, const ModelAccess& access) {
  if (!access.model->risk_head()) throw make_error(env, code::kInvalidArgument, "Expected a model with a risk head (attachRiskHead)");
  return access.model->risk_head();
}


Napi::Value save_risk_head(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto head = head_of(env, unwrap_model(env, info[0]));
  const std::string path = path_value(env, info[1], "path");
  return PromiseWorker::start(
      env,
      [head, path] {
        std::vector<std::pair<std::string, at::Tensor>> tensors;
        for (const auto& [name, t] : head->parameters()) tensors.emplace_back(name, t.detach().to(at::kCPU).contiguous());
        write_safetensors(path, tensors, {{"format", "lora-node-risk-head"}});
      },
      [](Napi::Env env) -> Napi::Value { return env.Undefined(); });
}

Napi::Value load_risk_head(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto head = head_of(env, unwrap_model(env, info[0]));
  const std::string path = path_value(env, info[1], "path");
  return PromiseWorker::start(env, [head, path] { head->load(path); }, [](Napi::Env env) -> Napi::Value { return env.Undefined(); });
}

}  // namespace

RiskInputs risk_inputs_from(Napi::Env env, const Napi::Value& numeric, const Napi::Value& categorical, int64_t rows,
                            const char* where) {
  RiskInputs in;
  const std::string prefix(where);
  if (!numeric.IsUndefined()) {
    if (!numeric.IsTypedArray() || numeric.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
      throw_expected(env, "a Float32Array", prefix + ".numericFeatures", numeric);
    auto a = numeric.As<Napi::Float32Array>();
    const int64_t n = static_cast<int64_t>(a.ElementLength());
    if (rows < 1 || n % rows != 0)
      throw_expected(env, "a Float32Array of rows × width values (" + std::to_string(rows) + " rows)", prefix + ".numericFeatures", numeric);
    in.numeric = at::empty({n}, at::kFloat);
    if (n) std::memcpy(in.numeric.data_ptr<float>(), a.Data(), n * sizeof(float));
    in.numeric = in.numeric.view({rows, n / rows});
  }
  if (!categorical.IsUndefined()) {
    if (!categorical.IsTypedArray() || categorical.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array)
      throw_expected(env, "an Int32Array", prefix + ".categoricalFeatures", categorical);
    const int64_t n = static_cast<int64_t>(categorical.As<Napi::TypedArray>().ElementLength());
    if (rows < 1 || n % rows != 0)
      throw_expected(env, "an Int32Array of rows × count ids (" + std::to_string(rows) + " rows)", prefix + ".categoricalFeatures", categorical);
    in.categorical = int32_array_to_long(env, categorical, (prefix + ".categoricalFeatures").c_str(), n, {rows, n / rows});
  }
  return in;
}

void register_risk_head(Napi::Env env, Napi::Object exports) {
  exports.Set("attachRiskHead", Napi::Function::New(env, attach_risk_head, "attachRiskHead"));
  exports.Set("saveRiskHead", Napi::Function::New(env, save_risk_head, "saveRiskHead"));
  exports.Set("loadRiskHead", Napi::Function::New(env, load_risk_head, "loadRiskHead"));
}

}  // namespace lora::addon
