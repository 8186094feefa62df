// NativeModel: a JS handle to a core DistilBertClassifier. Load, forward and
// saving run on libuv's pool; the handle shares ownership with running
// workers, so dispose() during a forward frees the model when it finishes.
#include <ATen/core/grad_mode.h>
#include <napi.h>

#include <memory>
#include <string>

#include "addon/bindings.h"
#include "addon/js_values.h"
#include "addon/model_handle.h"
#include "addon/napi_errors.h"
#include "addon/promise_worker.h"
#include "addon/risk_head_binding.h"
#include "addon/tensor_convert.h"
#include "core/distilbert.h"
#include "core/loss.h"
#include "core/risk_head.h"
#include "core/mlm_head.h"
#include "core/runtime.h"
#include "core/safetensors.h"

namespace lora::addon {
namespace {

struct LoadedModel {
  std::shared_ptr<DistilBertClassifier> model;
  std::string precision_reason;
  int threads = 1;
  NamedTensors snapshot;  // best weights kept by snapshotTrainable()
};

Napi::Array string_array(Napi::Env env, const std::vector<std::string>& values) {
  Napi::Array out = Napi::Array::New(env, values.size());
  for (size_t i = 0; i < values.size(); ++i) out.Set(i, values[i]);
  return out;
}

// Float32Array (any length) -> a 1-D float tensor copy, or undefined when absent.
at::Tensor optional_float_tensor(Napi::Env env, const Napi::Object& o, const char* key) {
  if (!o.Has(key) || o.Get(key).IsUndefined()) return at::Tensor();
  Napi::Value v = o.Get(key);
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
    throw make_error(env, code::kInvalidArgument, std::string("Expected a Float32Array for ") + key);
  auto array = v.As<Napi::Float32Array>();
  at::Tensor t = at::empty({static_cast<int64_t>(array.ElementLength())}, at::kFloat);
  if (array.ElementLength()) std::memcpy(t.data_ptr<float>(), array.Data(), array.ElementLength() * sizeof(float));
  return t;
}

}  // namespace

void check_trainable_for_backward(Napi::Env env, const DistilBertClassifier& model) {
  if (model.trainable().empty())
    throw make_error(env, code::kInvalidArgument,
                     "Expected a model with trainable parameters for backward: true (attach LoRA or enable full fine-tuning) "
                     "but this one has none");
}

LoraSpec parse_lora_spec(Napi::Env env, const Napi::Object& o) {
  LoraSpec spec;
  if (!o.Get("modules").IsArray()) throw make_error(env, code::kInvalidArgument, "Expected an array for spec.modules");
  Napi::Array modules = o.Get("modules").As<Napi::Array>();
  for (uint32_t i = 0; i < modules.Length(); ++i) {
    if (!modules.Get(i).IsObject()) throw make_error(env, code::kInvalidArgument, "Expected objects in spec.modules");
    Napi::Object m = modules.Get(i).As<Napi::Object>();
    LoraModuleSpec s;
    if (!m.Get("module").IsString()) throw make_error(env, code::kInvalidArgument, "Expected a string for spec.modules[i].module");
    s.module = m.Get("module").As<Napi::String>();
    s.r = positive_int(env, m.Get("r"), "spec.modules[i].r");
    if (!m.Get("alpha").IsNumber()) throw make_error(env, code::kInvalidArgument, "Expected a number for spec.modules[i].alpha");
    s.alpha = m.Get("alpha").As<Napi::Number>().DoubleValue();
    spec.modules.push_back(s);
  }
  if (o.Get("dropout").IsNumber()) spec.dropout = o.Get("dropout").As<Napi::Number>().DoubleValue();
  if (!(spec.dropout >= 0 && spec.dropout < 1))
    throw make_error(env, code::kInvalidArgument, "Expected spec.dropout in [0, 1)");
  spec.use_rslora = o.Get("useRslora").IsBoolean() && o.Get("useRslora").As<Napi::Boolean>().Value();
  const std::string init = string_option(env, o, "init", "kaiming");
  if (init == "kaiming") spec.init = LoraInit::Kaiming;
  else if (init == "gaussian") spec.init = LoraInit::Gaussian;
  else if (init == "zeros") spec.init = LoraInit::Zeros;
  else throw make_error(env, code::kInvalidArgument, "Expected 'kaiming', 'gaussian' or 'zeros' for spec.init but received \"" + init + "\"");
  spec.bias = string_option(env, o, "bias", "none");
  if (spec.bias != "none" && spec.bias != "all" && spec.bias != "lora_only")
    throw make_error(env, code::kInvalidArgument, "Expected 'none', 'all' or 'lora_only' for spec.bias but received \"" + spec.bias + "\"");
  if (o.Get("modulesToSave").IsArray()) {
    Napi::Array saved = o.Get("modulesToSave").As<Napi::Array>();
    for (uint32_t i = 0; i < saved.Length(); ++i)
      if (saved.Get(i).IsString()) spec.modules_to_save.push_back(saved.Get(i).As<Napi::String>());
  }
  return spec;
}

namespace {

class NativeModel : public Napi::ObjectWrap<NativeModel> {
 public:
  static Napi::Function define(Napi::Env env) {
    return DefineClass(env, "NativeModel",
                       {StaticMethod<&NativeModel::load>("load"),
                        InstanceMethod<&NativeModel::info>("info"),
                        InstanceMethod<&NativeModel::forward>("forward"),
                        InstanceMethod<&NativeModel::attach_lora>("attachLora"),
                        InstanceMethod<&NativeModel::enable_full_finetune>("enableFullFinetune"),
                        InstanceMethod<&NativeModel::load_adapter>("loadAdapter"),
                        InstanceMethod<&NativeModel::trainable_names>("trainableNames"),
                        InstanceMethod<&NativeModel::linear_names>("linearNames"),
                        InstanceMethod<&NativeModel::gradients>("gradients"),
                        InstanceMethod<&NativeModel::zero_grad>("zeroGrad"),
                        InstanceMethod<&NativeModel::merge>("mergeLora"),
                        InstanceMethod<&NativeModel::unmerge>("unmergeLora"),
                        InstanceMethod<&NativeModel::save_trainable>("saveTrainable"),
                        InstanceMethod<&NativeModel::save_state_dict>("saveStateDict"),
                        InstanceMethod<&NativeModel::snapshot>("snapshotTrainable"),
                        InstanceMethod<&NativeModel::restore>("restoreTrainable"),
                        InstanceMethod<&NativeModel::dispose>("dispose")});
  }

  ModelAccess access(Napi::Env env) const { return {model(env), loaded_.threads}; }

  explicit NativeModel(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeModel>(info) {
    if (info.Length() != 1 || !info[0].IsExternal())
      throw make_error(info.Env(), code::kInvalidArgument, "NativeModel is created by NativeModel.load()");
    loaded_ = *info[0].As<Napi::External<LoadedModel>>().Data();
  }

 private:
  // load(dir, { device, precision, threads }) -> Promise<NativeModel>
  static Napi::Value load(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const std::string dir = path_value(env, info[0], "the checkpoint folder");
    Napi::Object options = info[1].IsObject() ? info[1].As<Napi::Object>() : Napi::Object::New(env);
    const std::string device_name = string_option(env, options, "device", "auto");
    const std::string precision_name = string_option(env, options, "precision", "auto");
    const int threads = options.Has("threads") && !options.Get("threads").IsUndefined()
                            ? static_cast<int>(positive_int(env, options.Get("threads"), "options.threads"))
                            : 1;
    LoadOptions base_options;
    if (options.Has("labels") && !options.Get("labels").IsUndefined()) {
      base_options.labels = string_list(env, options.Get("labels"), "options.labels");
      base_options.problem_type = string_option(env, options, "problemType", "");
    }
    base_options.init_missing_head = options.Get("initMissingHead").IsBoolean() && options.Get("initMissingHead").As<Napi::Boolean>().Value();
    base_options.masked_lm = options.Get("maskedLm").IsBoolean() && options.Get("maskedLm").As<Napi::Boolean>().Value();  // MLM head
    // quantization: { type: 'nf4' | 'fp4', blockSize, doubleQuant } quantizes the block linears on load.
    if (options.Get("quantization").IsObject()) {
      Napi::Object q = options.Get("quantization").As<Napi::Object>();
      base_options.quantize = true;
      base_options.quant_type = guarded(env, [&] { return parse_quant_type(string_option(env, q, "type", "nf4"), "quantization.type"); });
      if (!q.Get("blockSize").IsUndefined()) base_options.quant_blocksize = positive_int(env, q.Get("blockSize"), "quantization.blockSize");
      guarded(env, [&] { check_blocksize(base_options.quant_blocksize, "quantization.blockSize"); });
      base_options.double_quant = !q.Get("doubleQuant").IsBoolean() || q.Get("doubleQuant").As<Napi::Boolean>().Value();
      if (!q.Get("skip").IsUndefined()) base_options.quant_skip = string_list(env, q.Get("skip"), "quantization.skip");
    }
    if (options.Get("seed").IsNumber()) base_options.seed = static_cast<uint64_t>(options.Get("seed").As<Napi::Number>().Int64Value());
    auto loaded = std::make_shared<LoadedModel>();
    loaded->threads = threads;
    auto constructor = std::make_shared<Napi::FunctionReference>(Napi::Persistent(info.This().As<Napi::Function>()));
    return PromiseWorker::start(
        env,
        [=] {
          set_threads(threads);
          LoadOptions o = base_options;
          o.device = resolve_device(device_name);
          o.precision = resolve_precision(precision_name, o.device, &loaded->precision_reason);
          loaded->model = DistilBertClassifier::load(dir, o);
        },
        [=](Napi::Env env) -> Napi::Value {
          return constructor->New({Napi::External<LoadedModel>::New(env, loaded.get())});
        });
  }

  std::shared_ptr<DistilBertClassifier> model(Napi::Env env) const {
    if (!loaded_.model) throw make_error(env, "ERR_DISPOSED", "the native model was used after dispose()");
    return loaded_.model;
  }

  Napi::Value info(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto m = model(env);
    const DistilBertConfig& c = m->config();
    Napi::Object out = Napi::Object::New(env);
    out.Set("labels", string_array(env, c.labels));
    out.Set("problemType", c.problem_type);
    out.Set("vocabSize", Napi::Number::New(env, static_cast<double>(c.vocab_size)));
    out.Set("maxPositionEmbeddings", Napi::Number::New(env, static_cast<double>(c.max_position_embeddings)));
    out.Set("padTokenId", Napi::Number::New(env, static_cast<double>(c.pad_token_id)));
    out.Set("dim", Napi::Number::New(env, static_cast<double>(c.dim)));
    out.Set("layers", Napi::Number::New(env, static_cast<double>(c.n_layers)));
    out.Set("parameters", Napi::Number::New(env, static_cast<double>(m->parameter_count())));
    out.Set("device", m->device().str());
    out.Set("precision", precision_name(m->precision()));
    out.Set("precisionReason", loaded_.precision_reason);
    out.Set("threads", loaded_.threads);
    out.Set("headNotice", m->head_notice());
    out.Set("quantized", m->quantized());
    out.Set("maskedLm", m->mlm_head() != nullptr);
    const auto [bytes, params] = m->base_linear_weight_bytes_and_params();
    out.Set("baseLinearBytes", static_cast<double>(bytes));
    out.Set("baseLinearParams", static_cast<double>(params));
    return out;
  }

  // forward(inputIds, attentionMask, batchSize, seqLen, { wantHidden, train, backward, labels,
  //         lossKind: 'ce'|'bce'|'mse', classWeights, posWeight })
  //   -> Promise<{ logits: Float32Array, loss?: number, lastHiddenState?, hiddenStates? }>
  Napi::Value forward(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto m = model(env);
    if (m->mlm_head())
      throw make_error(env, code::kInvalidArgument, "Expected a classifier but this model was loaded as a masked language model (use maskedLmForward)");
    const int64_t batch = positive_int(env, info[2], "batchSize");
    const int64_t seq = positive_int(env, info[3], "seqLen");
    Napi::Object o = info[4].IsObject() ? info[4].As<Napi::Object>() : Napi::Object::New(env);
    auto flag = [&](const char* key) { return o.Get(key).IsBoolean() && o.Get(key).As<Napi::Boolean>().Value(); };
    ForwardOptions options;
    options.want_hidden = flag("wantHidden");
    options.train = flag("train");
    const bool backward = flag("backward");
    options.grad = backward;
    at::Tensor ids = int32_array_to_long(env, info[0], "inputIds", batch * seq, {batch, seq});
    at::Tensor mask = int32_array_to_long(env, info[1], "attentionMask", batch * seq, {batch, seq});
    options.risk = risk_inputs_from(env, o.Get("numericFeatures"), o.Get("categoricalFeatures"), batch, "options");  // risk head
    at::Tensor labels;
    LossOptions loss;
    if (o.Has("labels") && !o.Get("labels").IsUndefined()) {
      Napi::Value v = o.Get("labels");
      if (v.IsTypedArray() && v.As<Napi::TypedArray>().TypedArrayType() == napi_int32_array) {
        labels = int32_array_to_long(env, v, "labels", batch, {batch});
      } else if (v.IsTypedArray() && v.As<Napi::TypedArray>().TypedArrayType() == napi_float32_array) {
        labels = optional_float_tensor(env, o, "labels");
      } else {
        throw make_error(env, code::kInvalidArgument, "Expected an Int32Array or Float32Array for labels");
      }
      const std::string kind = string_option(env, o, "lossKind", "");
      const bool integer = labels.scalar_type() == at::kLong;
      loss.kind = kind == "ce" ? LossKind::CrossEntropy
                  : kind == "bce" ? LossKind::BinaryCrossEntropy
                  : kind == "mse" ? LossKind::MeanSquaredError
                  : kind == "ordinal" ? LossKind::Ordinal
                  : loss_kind_for(m->config().problem_type, m->config().num_labels(), integer);
      loss.class_weights = optional_float_tensor(env, o, "classWeights");
      loss.pos_weight = optional_float_tensor(env, o, "posWeight");
    } else if (backward) {
      throw make_error(env, code::kInvalidArgument, "Expected labels for a forward with backward: true");
    }
    if (backward) check_trainable_for_backward(env, *m);
    auto out = std::make_shared<ForwardOutputs>();
    auto loss_value = std::make_shared<double>(0.0);
    const int threads = loaded_.threads;
    return PromiseWorker::start(
        env,
        [=] {
          set_threads(threads);  // libtorch's thread count is per OS thread under OpenMP
          *out = m->forward(ids, mask, options);
          if (labels.defined()) {
            at::Tensor l = [&] {
              c10::optional<c10::InferenceMode> inference;
              if (!backward) inference.emplace();
              at::AutoGradMode grad_mode(backward);
              return classification_loss(out->logits, labels, loss);
            }();
            *loss_value = l.item<double>();
            if (backward) l.backward();
          }
          out->logits = out->logits.detach();
        },
        [=](Napi::Env env) -> Napi::Value {
          Napi::Object result = Napi::Object::New(env);
          result.Set("logits", tensor_to_float32_array(env, out->logits));
          if (labels.defined()) result.Set("loss", *loss_value);
          if (options.want_hidden) {
            result.Set("lastHiddenState", tensor_to_float32_array(env, out->last_hidden_state));
            Napi::Array hidden = Napi::Array::New(env, out->hidden_states.size());
            for (size_t i = 0; i < out->hidden_states.size(); ++i)
              hidden.Set(i, tensor_to_float32_array(env, out->hidden_states[i]));
            result.Set("hiddenStates", hidden);
          }
          return result;
        });
  }

  Napi::Value attach_lora(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto m = model(env);
    if (!info[0].IsObject()) throw make_error(env, code::kInvalidArgument, "Expected a LoRA spec object");
    LoraSpec spec = parse_lora_spec(env, info[0].As<Napi::Object>());
    const uint64_t seed = info[1].IsNumber() ? static_cast<uint64_t>(info[1].As<Napi::Number>().Int64Value()) : 42;
    guarded(env, [&] { m->attach_lora(spec, seed); });
    return env.Undefined();
  }

  Napi::Value enable_full_finetune(const Napi::CallbackInfo& info) {
    auto m = model(info.Env());
    guarded(info.Env(), [&] { m->enable_full_finetune(); });
    return info.Env().Undefined();
  }

  Napi::Value load_adapter(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto m = model(env);
    const std::string path = path_value(env, info[0], "the adapter file");
    return PromiseWorker::start(env, [=] { m->load_adapter_weights(path); },
                                [](Napi::Env env) -> Napi::Value { return env.Undefined(); });
  }

  Napi::Value trainable_names(const Napi::CallbackInfo& info) {
    auto m = model(info.Env());
    std::vector<std::string> names;
    for (const auto& [name, t] : m->trainable()) names.push_back(name);
    return string_array(info.Env(), names);
  }

  Napi::Value linear_names(const Napi::CallbackInfo& info) {
    return string_array(info.Env(), model(info.Env())->linear_names());
  }

  // gradients() -> Record<key, Float32Array>; zeros for a parameter no backward reached.
  Napi::Value gradients(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto m = model(env);
    Napi::Object out = Napi::Object::New(env);
    for (const auto& [name, t] : m->trainable()) {
      at::Tensor g = t.grad().defined() ? t.grad() : at::zeros_like(t);
      out.Set(name, tensor_to_float32_array(env, g));
    }
    return out;
  }

  Napi::Value zero_grad(const Napi::CallbackInfo& info) {
    auto m = model(info.Env());
    for (const auto& [name, t] : m->trainable()) {
      at::Tensor param = t;
      if (param.grad().defined()) param.mutable_grad().reset();
    }
    return info.Env().Undefined();
  }

  Napi::Value merge(const Napi::CallbackInfo& info) {
    auto m = model(info.Env());
    guarded(info.Env(), [&] { m->merge_lora(); });
    return info.Env().Undefined();
  }

  Napi::Value unmerge(const Napi::CallbackInfo& info) {
    auto m = model(info.Env());
    guarded(info.Env(), [&] { m->unmerge_lora(); });
    return info.Env().Undefined();
  }

  // saveTrainable(path, metadata) -> Promise: the adapter tensors (PEFT keys).
  Napi::Value save_trainable(const Napi::CallbackInfo& info) { return save(info, /*trainable=*/true); }
  // saveStateDict(path, metadata) -> Promise: every parameter under transformers' names.
  Napi::Value save_state_dict(const Napi::CallbackInfo& info) { return save(info, /*trainable=*/false); }

  Napi::Value save(const Napi::CallbackInfo& info, bool trainable) {
    Napi::Env env = info.Env();
    auto m = model(env);
    const std::string path = path_value(env, info[0], "the output file");
    std::map<std::string, std::string> metadata;
    if (info[1].IsObject()) {
      Napi::Object o = info[1].As<Napi::Object>();
      Napi::Array keys = o.GetPropertyNames();
      for (uint32_t i = 0; i < keys.Length(); ++i) {
        const std::string key = keys.Get(i).As<Napi::String>();
        if (!o.Get(key).IsString()) throw make_error(env, code::kInvalidArgument, "Expected string metadata values");
        metadata[key] = o.Get(key).As<Napi::String>();
      }
    }
    return PromiseWorker::start(
        env,
        [=] {
          NamedTensors tensors;
          for (const auto& [name, t] : trainable ? m->trainable() : m->state_dict())
            if (!is_risk_head_key(name)) tensors.emplace_back(name, t.detach().to(at::kCPU).contiguous());  // risk head: own file
          write_safetensors(path, tensors, metadata);
        },
        [](Napi::Env env) -> Napi::Value { return env.Undefined(); });
  }

  // Keeps a copy of the trainable tensors in native memory (one slot).
  Napi::Value snapshot(const Napi::CallbackInfo& info) {
    auto m = model(info.Env());
    loaded_.snapshot = guarded(info.Env(), [&] { return m->snapshot_trainable(); });
    return info.Env().Undefined();
  }

  Napi::Value restore(const Napi::CallbackInfo& info) {
    auto m = model(info.Env());
    if (loaded_.snapshot.empty()) throw make_error(info.Env(), code::kInvalidArgument, "Expected snapshotTrainable() before restoreTrainable()");
    guarded(info.Env(), [&] { m->restore_trainable(loaded_.snapshot); });
    return info.Env().Undefined();
  }

  Napi::Value dispose(const Napi::CallbackInfo& info) {
    loaded_.snapshot.clear();
    loaded_.model.reset();  // idempotent; running workers keep their own reference
    return info.Env().Undefined();
  }

  LoadedModel loaded_;
};

}  // namespace

static Napi::FunctionReference* model_constructor = nullptr;

void register_model(Napi::Env env, Napi::Object exports) {
  Napi::Function constructor = NativeModel::define(env);
  // One addon instance per process (workers are not supported), so a static reference suffices.
  model_constructor = new Napi::FunctionReference(Napi::Persistent(constructor));
  exports.Set("NativeModel", constructor);
}

ModelAccess unwrap_model(Napi::Env env, const Napi::Value& value) {
  if (!value.IsObject() || !model_constructor || !value.As<Napi::Object>().InstanceOf(model_constructor->Value()))
    throw make_error(env, code::kInvalidArgument, "Expected a NativeModel");
  return NativeModel::Unwrap(value.As<Napi::Object>())->access(env);
}

}  // namespace lora::addon
