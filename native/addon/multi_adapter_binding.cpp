// NativeMultiModel: a JS handle to a core MultiAdapterModel (one base, many
// adapters). It is made from a loaded NativeModel, whose base it shares.
// Adapters are read on libuv's pool and swapped in on the JS thread, so a
// snapshot taken on the JS thread always matches what JS knows is loaded.
// predict() takes a snapshot (an id) for all its batches and releases it
// after; workers hold their own reference, so dispose() mid-forward is safe.
#include <napi.h>

#include <map>
#include <memory>
#include <string>

#include "addon/bindings.h"
#include "addon/js_values.h"
#include "addon/model_handle.h"
#include "addon/napi_errors.h"
#include "addon/promise_worker.h"
#include "addon/tensor_convert.h"
#include "core/multi_adapter.h"
#include "core/runtime.h"

namespace lora::addon {
namespace {

struct MultiModelState {
  std::shared_ptr<MultiAdapterModel> model;
  int threads = 1;
};

std::string string_field(Napi::Env env, const Napi::Object& o, const char* key) {
  if (!o.Get(key).IsString()) throw_expected(env, "a string", std::string("source.") + key, o.Get(key));
  return o.Get(key).As<Napi::String>();
}

class NativeMultiModel : public Napi::ObjectWrap<NativeMultiModel> {
 public:
  static Napi::Function define(Napi::Env env) {
    return DefineClass(env, "NativeMultiModel",
                       {StaticMethod<&NativeMultiModel::from_model>("fromModel"),
                        InstanceMethod<&NativeMultiModel::info>("info"),
                        InstanceMethod<&NativeMultiModel::add_adapter>("addAdapter"),
                        InstanceMethod<&NativeMultiModel::remove_adapter>("removeAdapter"),
                        InstanceMethod<&NativeMultiModel::snapshot>("snapshot"),
                        InstanceMethod<&NativeMultiModel::release>("release"),
                        InstanceMethod<&NativeMultiModel::forward>("forward"),
                        InstanceMethod<&NativeMultiModel::dispose>("dispose")});
  }

  explicit NativeMultiModel(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeMultiModel>(info) {
    if (info.Length() != 1 || !info[0].IsExternal())
      throw make_error(info.Env(), code::kInvalidArgument, "NativeMultiModel is created by NativeMultiModel.fromModel()");
    state_ = *info[0].As<Napi::External<MultiModelState>>().Data();
  }

 private:
  // fromModel(nativeModel) -> NativeMultiModel sharing that model's base (which must carry no LoRA).
  static Napi::Value from_model(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    ModelAccess access = unwrap_model(env, info[0]);
    MultiModelState state;
    state.threads = access.threads;
    state.model = guarded(env, [&] { return std::make_shared<MultiAdapterModel>(access.model); });
    return info.This().As<Napi::Function>().New({Napi::External<MultiModelState>::New(env, &state)});
  }

  std::shared_ptr<MultiAdapterModel> model(Napi::Env env) const {
    if (!state_.model) throw make_error(env, "ERR_DISPOSED", "the native multi-adapter model was used after dispose()");
    return state_.model;
  }

  // info() -> { layers, sharedLayers, adapters: [{ name, bytes }] } for the current set.
  Napi::Value info(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto set = model(env)->snapshot();
    Napi::Object out = Napi::Object::New(env);
    out.Set("layers", static_cast<double>(set->layers.size()));
    out.Set("sharedLayers", static_cast<double>(set->first_adapted_layer));
    Napi::Array adapters = Napi::Array::New(env, set->adapters.size());
    for (size_t i = 0; i < set->adapters.size(); ++i) {
      Napi::Object a = Napi::Object::New(env);
      a.Set("name", set->adapters[i]->name);
      a.Set("bytes", static_cast<double>(set->adapters[i]->bytes));
      adapters.Set(i, a);
    }
    out.Set("adapters", adapters);
    return out;
  }

  // addAdapter({ name, weightsPath, spec, numLabels, metadata }) -> Promise<void>
  Napi::Value add_adapter(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto m = model(env);
    if (!is_plain_object(info[0])) throw_expected(env, "an adapter source object", "source", info[0]);
    Napi::Object o = info[0].As<Napi::Object>();
    AdapterSource source;
    source.name = string_field(env, o, "name");
    source.weights_path = path_value(env, o.Get("weightsPath"), "source.weightsPath");
    source.metadata = string_field(env, o, "metadata");
    if (!is_plain_object(o.Get("spec"))) throw_expected(env, "a LoRA spec object", "source.spec", o.Get("spec"));
    source.spec = parse_lora_spec(env, o.Get("spec").As<Napi::Object>());
    source.num_labels = positive_int(env, o.Get("numLabels"), "source.numLabels");
    auto loaded = std::make_shared<std::shared_ptr<const LoadedAdapter>>();
    const int threads = state_.threads;
    return PromiseWorker::start(
        env,
        [=] {
          set_threads(threads);
          *loaded = m->read_adapter(source);
        },
        [=](Napi::Env env) -> Napi::Value {
          m->add(*loaded);  // on the JS thread: the swap is ordered with snapshot() calls
          return env.Undefined();
        });
  }

  Napi::Value remove_adapter(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto m = model(env);
    if (!info[0].IsString()) throw_expected(env, "an adapter name (a string)", "name", info[0]);
    const std::string name = info[0].As<Napi::String>();
    guarded(env, [&] { m->remove(name); });
    return env.Undefined();
  }

  // snapshot() -> { id, adapters: [{ name, metadata }] }: the set later forwards with this id run on.
  Napi::Value snapshot(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto set = model(env)->snapshot();
    const uint32_t id = next_snapshot_++;
    snapshots_[id] = set;
    Napi::Object out = Napi::Object::New(env);
    out.Set("id", id);
    Napi::Array adapters = Napi::Array::New(env, set->adapters.size());
    for (size_t i = 0; i < set->adapters.size(); ++i) {
      Napi::Object a = Napi::Object::New(env);
      a.Set("name", set->adapters[i]->name);
      a.Set("metadata", set->adapters[i]->metadata);
      adapters.Set(i, a);
    }
    out.Set("adapters", adapters);
    return out;
  }

  // release(id): the snapshot's adapters may be freed once no forward uses them. Idempotent.
  Napi::Value release(const Napi::CallbackInfo& info) {
    if (info[0].IsNumber()) snapshots_.erase(info[0].As<Napi::Number>().Uint32Value());
    return info.Env().Undefined();
  }

  // forward(inputIds, attentionMask, batchSize, seqLen, snapshotId) -> Promise<Float32Array[]>
  // (one [B, K] logits array per adapter, in the snapshot's order).
  Napi::Value forward(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto m = model(env);
    const int64_t batch = positive_int(env, info[2], "batchSize");
    const int64_t seq = positive_int(env, info[3], "seqLen");
    if (!info[4].IsNumber() || !snapshots_.count(info[4].As<Napi::Number>().Uint32Value()))
      throw_expected(env, "the id of a snapshot not yet released", "snapshotId", info[4]);
    auto set = snapshots_.at(info[4].As<Napi::Number>().Uint32Value());
    at::Tensor ids = int32_array_to_long(env, info[0], "inputIds", batch * seq, {batch, seq});
    at::Tensor mask = int32_array_to_long(env, info[1], "attentionMask", batch * seq, {batch, seq});
    auto logits = std::make_shared<std::vector<at::Tensor>>();
    const int threads = state_.threads;
    return PromiseWorker::start(
        env,
        [=] {
          set_threads(threads);
          *logits = m->forward(*set, ids, mask);
        },
        [=](Napi::Env env) -> Napi::Value {
          Napi::Array out = Napi::Array::New(env, logits->size());
          for (size_t i = 0; i < logits->size(); ++i) out.Set(i, tensor_to_float32_array(env, (*logits)[i]));
          return out;
        });
  }

  Napi::Value dispose(const Napi::CallbackInfo& info) {
    snapshots_.clear();
    state_.model.reset();  // idempotent; running workers keep their own reference
    return info.Env().Undefined();
  }

  MultiModelState state_;
  std::map<uint32_t, std::shared_ptr<const AdapterSet>> snapshots_;  // JS thread only
  uint32_t next_snapshot_ = 1;
};

}  // namespace

void register_multi_model(Napi::Env env, Napi::Object exports) {
  exports.Set("NativeMultiModel", NativeMultiModel::define(env));
}

}  // namespace lora::addon
