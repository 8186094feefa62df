// NativeClassifier: a JS handle to a core DistilBertClassifier. Load and
// forward run on libuv's pool; the handle shares ownership with running
// workers, so dispose() during a forward frees the model when it finishes.
#include <napi.h>

#include <memory>
#include <string>

#include "addon/bindings.h"
#include "addon/napi_errors.h"
#include "addon/promise_worker.h"
#include "addon/tensor_convert.h"
#include "core/distilbert.h"
#include "core/runtime.h"

namespace lora::addon {
namespace {

struct LoadedModel {
  std::shared_ptr<DistilBertClassifier> model;
  std::string precision_reason;
  int threads = 1;
};

class NativeClassifier : public Napi::ObjectWrap<NativeClassifier> {
 public:
  static Napi::Function define(Napi::Env env) {
    return DefineClass(env, "NativeClassifier",
                       {InstanceMethod<&NativeClassifier::info>("info"),
                        InstanceMethod<&NativeClassifier::forward>("forward"),
                        InstanceMethod<&NativeClassifier::dispose>("dispose"),
                        StaticMethod<&NativeClassifier::load>("load")});
  }

  explicit NativeClassifier(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeClassifier>(info) {
    if (info.Length() != 1 || !info[0].IsExternal())
      throw make_error(info.Env(), code::kInvalidArgument, "NativeClassifier is created by NativeClassifier.load()");
    auto* loaded = info[0].As<Napi::External<LoadedModel>>().Data();
    loaded_ = *loaded;
  }

 private:
  // load(dir, { device, precision, threads }) -> Promise<NativeClassifier>
  static Napi::Value load(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!info[0].IsString() || info[0].As<Napi::String>().Utf8Value().empty())
      throw make_error(env, code::kInvalidArgument, "Expected a checkpoint folder path (a non-empty string)");
    const std::string dir = info[0].As<Napi::String>();
    Napi::Object options = info[1].IsObject() ? info[1].As<Napi::Object>() : Napi::Object::New(env);
    const std::string device_name = string_option(env, options, "device", "auto");
    const std::string precision_name = string_option(env, options, "precision", "auto");
    const int threads = options.Has("threads") && !options.Get("threads").IsUndefined()
                            ? static_cast<int>(positive_int(env, options.Get("threads"), "options.threads"))
                            : 1;
    auto loaded = std::make_shared<LoadedModel>();
    loaded->threads = threads;
    auto constructor = std::make_shared<Napi::FunctionReference>(Napi::Persistent(info.This().As<Napi::Function>()));
    return PromiseWorker::start(
        env,
        [=] {
          set_threads(threads);
          LoadOptions o;
          o.device = resolve_device(device_name);
          o.precision = resolve_precision(precision_name, o.device, &loaded->precision_reason);
          loaded->model = DistilBertClassifier::load(dir, o);
        },
        [=](Napi::Env env) -> Napi::Value {
          return constructor->New({Napi::External<LoadedModel>::New(env, loaded.get())});
        });
  }

  std::shared_ptr<DistilBertClassifier> model(Napi::Env env) const {
    if (!loaded_.model) throw make_error(env, "ERR_DISPOSED", "the native classifier was used after dispose()");
    return loaded_.model;
  }

  Napi::Value info(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto m = model(env);
    const DistilBertConfig& c = m->config();
    Napi::Object out = Napi::Object::New(env);
    Napi::Array labels = Napi::Array::New(env, c.labels.size());
    for (size_t i = 0; i < c.labels.size(); ++i) labels.Set(i, c.labels[i]);
    out.Set("labels", labels);
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
    return out;
  }

  // forward(inputIds: Int32Array, attentionMask: Int32Array, batchSize, seqLen, wantHidden)
  //   -> Promise<{ logits: Float32Array, lastHiddenState?, hiddenStates? }>
  Napi::Value forward(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto m = model(env);
    const int64_t batch = positive_int(env, info[2], "batchSize");
    const int64_t seq = positive_int(env, info[3], "seqLen");
    const bool want_hidden = info[4].IsBoolean() && info[4].As<Napi::Boolean>().Value();
    at::Tensor ids = int32_array_to_long(env, info[0], "inputIds", batch * seq, {batch, seq});
    at::Tensor mask = int32_array_to_long(env, info[1], "attentionMask", batch * seq, {batch, seq});
    auto out = std::make_shared<ForwardOutputs>();
    const int threads = loaded_.threads;
    return PromiseWorker::start(
        env,
        [=] {
          set_threads(threads);  // libtorch's thread count is per OS thread under OpenMP
          ForwardOptions options;
          options.want_hidden = want_hidden;
          *out = m->forward(ids, mask, options);
        },
        [=](Napi::Env env) -> Napi::Value {
          Napi::Object result = Napi::Object::New(env);
          result.Set("logits", tensor_to_float32_array(env, out->logits));
          if (want_hidden) {
            result.Set("lastHiddenState", tensor_to_float32_array(env, out->last_hidden_state));
            Napi::Array hidden = Napi::Array::New(env, out->hidden_states.size());
            for (size_t i = 0; i < out->hidden_states.size(); ++i)
              hidden.Set(i, tensor_to_float32_array(env, out->hidden_states[i]));
            result.Set("hiddenStates", hidden);
          }
          return result;
        });
  }

  Napi::Value dispose(const Napi::CallbackInfo& info) {
    loaded_.model.reset();  // idempotent; running workers keep their own reference
    return info.Env().Undefined();
  }

  LoadedModel loaded_;
};

}  // namespace

void register_model(Napi::Env env, Napi::Object exports) {
  exports.Set("NativeClassifier", NativeClassifier::define(env));
}

}  // namespace lora::addon
