// NativeTrainer: runs a TrainLoop on its own std::thread. Each optimizer step
// is reported to JavaScript through a thread-safe function; the run's Promise
// settles on the JS thread when the loop stops (target step, end, or abort).
#include <napi.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <thread>

#include "addon/bindings.h"
#include "addon/js_values.h"
#include "addon/mlm_binding.h"
#include "addon/model_handle.h"
#include "addon/napi_errors.h"
#include "addon/promise_worker.h"
#include "addon/risk_head_binding.h"
#include "addon/tensor_convert.h"
#include "core/runtime.h"
#include "core/safetensors.h"
#include "core/train_loop.h"

namespace lora::addon {
namespace {

double number_option(Napi::Env env, const Napi::Object& o, const char* key, double fallback) {
  if (!o.Has(key) || o.Get(key).IsUndefined()) return fallback;
  if (!o.Get(key).IsNumber()) throw_expected(env, "a number", std::string("config.") + key, o.Get(key));
  return o.Get(key).As<Napi::Number>().DoubleValue();
}

template <typename T>
std::vector<T> typed_copy(Napi::Env env, const Napi::Value& v, napi_typedarray_type type, const char* what, const char* name) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != type) throw_expected(env, what, name, v);
  auto array = v.As<Napi::TypedArray>();
  const T* data = reinterpret_cast<const T*>(static_cast<const uint8_t*>(array.ArrayBuffer().Data()) + array.ByteOffset());
  return std::vector<T>(data, data + array.ElementLength());
}

TrainConfig parse_config(Napi::Env env, const Napi::Object& o) {
  TrainConfig c;
  c.epochs = static_cast<int64_t>(number_option(env, o, "epochs", 3));
  c.batch_size = static_cast<int64_t>(number_option(env, o, "batchSize", 16));
  c.learning_rate = number_option(env, o, "learningRate", 5e-5);
  c.weight_decay = number_option(env, o, "weightDecay", 0);
  c.warmup_steps = static_cast<int64_t>(number_option(env, o, "warmupSteps", 0));
  c.warmup_ratio = number_option(env, o, "warmupRatio", 0);
  c.max_grad_norm = number_option(env, o, "maxGradNorm", 1.0);
  c.gradient_accumulation = static_cast<int64_t>(number_option(env, o, "gradientAccumulationSteps", 1));
  c.seed = static_cast<uint64_t>(number_option(env, o, "seed", 42));
  c.schedule = guarded(env, [&] { return parse_schedule_kind(string_option(env, o, "scheduler", "linear")); });
  const std::string loss = string_option(env, o, "lossKind", "ce");
  c.loss.kind = loss == "bce"       ? LossKind::BinaryCrossEntropy
                : loss == "mse"     ? LossKind::MeanSquaredError
                : loss == "ordinal" ? LossKind::Ordinal
                                    : LossKind::CrossEntropy;
  if (o.Has("classWeights") && !o.Get("classWeights").IsUndefined()) {
    auto w = typed_copy<float>(env, o.Get("classWeights"), napi_float32_array, "a Float32Array", "config.classWeights");
    c.loss.class_weights = at::tensor(w, at::kFloat);
  }
  if (o.Has("posWeight") && !o.Get("posWeight").IsUndefined()) {
    auto w = typed_copy<float>(env, o.Get("posWeight"), napi_float32_array, "a Float32Array", "config.posWeight");
    c.loss.pos_weight = at::tensor(w, at::kFloat);
  }
  return c;
}

class NativeTrainer : public Napi::ObjectWrap<NativeTrainer> {
 public:
  static Napi::Function define(Napi::Env env) {
    return DefineClass(env, "NativeTrainer",
                       {InstanceMethod<&NativeTrainer::run>("run"),
                        InstanceMethod<&NativeTrainer::abort>("abort"),
                        InstanceMethod<&NativeTrainer::info>("info"),
                        InstanceMethod<&NativeTrainer::save_state>("saveState"),
                        InstanceMethod<&NativeTrainer::load_state>("loadState"),
                        InstanceMethod<&NativeTrainer::dispose>("dispose")});
  }

  // new NativeTrainer(model, { ids: Int32Array, offsets: Int32Array, labels: Int32Array | Float32Array,
  //                            numLabels }, config)
  explicit NativeTrainer(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeTrainer>(info) {
    Napi::Env env = info.Env();
    ModelAccess access = unwrap_model(env, info[0]);
    if (!is_plain_object(info[1])) throw_expected(env, "a dataset object", "data", info[1]);
    if (!is_plain_object(info[2])) throw_expected(env, "a config object", "config", info[2]);
    Napi::Object d = info[1].As<Napi::Object>();
    auto ids = typed_copy<int32_t>(env, d.Get("ids"), napi_int32_array, "an Int32Array", "data.ids");
    auto offsets32 = typed_copy<int32_t>(env, d.Get("offsets"), napi_int32_array, "an Int32Array", "data.offsets");
    std::vector<int64_t> offsets(offsets32.begin(), offsets32.end());
    const int64_t n = static_cast<int64_t>(offsets.size()) - 1;
    at::Tensor labels;
    Napi::Value l = d.Get("labels");
    if (l.IsTypedArray() && l.As<Napi::TypedArray>().TypedArrayType() == napi_int32_array) {
      labels = at::tensor(typed_copy<int32_t>(env, l, napi_int32_array, "", ""), at::kInt).to(at::kLong);
    } else {
      auto values = typed_copy<float>(env, l, napi_float32_array, "an Int32Array or Float32Array", "data.labels");
      const int64_t k = n > 0 ? static_cast<int64_t>(values.size()) / n : 0;
      if (n <= 0 || k * n != static_cast<int64_t>(values.size()))
        throw make_error(env, code::kInvalidArgument, "Expected data.labels to hold numLabels floats per example");
      labels = at::tensor(values, at::kFloat).view({n, k});
    }
    RiskInputs risk = risk_inputs_from(env, d.Get("numericFeatures"), d.Get("categoricalFeatures"), n, "data");  // risk head
    TrainConfig config = parse_config(env, info[2].As<Napi::Object>());
    // MLM pretraining: config.masking is the masking spec (mlm_binding.h).
    Napi::Value masking = info[2].As<Napi::Object>().Get("masking");
    if (!masking.IsUndefined())
      config.masking = std::make_shared<const MaskingSpec>(parse_masking_spec(env, masking, access.model->config().vocab_size));
    model_ = access.model;
    threads_ = access.threads;
    abort_ = std::make_shared<std::atomic<bool>>(false);
    guarded(env, [&] {
      auto data = std::make_shared<TokenDataset>(std::move(ids), std::move(offsets), labels, model_->config().pad_token_id);
      if (risk.given()) data->set_risk_inputs(risk);
      loop_ = std::make_shared<TrainLoop>(model_, data, config);
    });
  }

  ~NativeTrainer() override { stop_thread(); }

 private:
  struct RunState {
    Napi::Promise::Deferred deferred;
    Napi::ThreadSafeFunction tsfn;
    CapturedError error;
    bool failed = false;
  };

  void stop_thread() {
    if (abort_) abort_->store(true);
    if (thread_.joinable()) thread_.join();
  }

  // run(untilStep, onStep) -> Promise<{ step, finished, aborted }>
  Napi::Value run(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!loop_) throw make_error(env, "ERR_DISPOSED", "the native trainer was used after dispose()");
    if (running_) throw make_error(env, code::kInvalidArgument, "Expected one run at a time but a run is in progress");
    const int64_t until = positive_int(env, info[0], "untilStep");
    if (!info[1].IsFunction()) throw_expected(env, "a function", "onStep", info[1]);
    if (thread_.joinable()) thread_.join();  // the previous run's thread has finished its work
    auto state = std::make_shared<RunState>(RunState{Napi::Promise::Deferred::New(env), {}, {}, false});
    state->tsfn = Napi::ThreadSafeFunction::New(env, info[1].As<Napi::Function>(), "lora-node-train", 0, 1);
    abort_->store(false);
    running_ = true;
    Ref();  // keep this object alive until the run settles
    auto loop = loop_;
    auto abort = abort_;
    const int threads = threads_;
    thread_ = std::thread([this, state, loop, abort, until, threads] {
      const auto started = std::chrono::steady_clock::now();
      state->failed = !capture_errors(
          [&] {
            set_threads(threads);
            loop->run(until, *abort, [&](const StepReport& r) {
              const double seconds =
                  std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
              state->tsfn.BlockingCall([r, seconds](Napi::Env env, Napi::Function callback) {
                Napi::Object o = Napi::Object::New(env);
                o.Set("step", static_cast<double>(r.step));
                o.Set("totalSteps", static_cast<double>(r.total_steps));
                o.Set("epoch", r.epoch);
                o.Set("loss", r.loss);
                o.Set("learningRate", r.learning_rate);
                o.Set("gradNorm", r.grad_norm);
                o.Set("samples", static_cast<double>(r.samples));
                o.Set("seconds", seconds);
                callback.Call({o});
              });
            });
          },
          &state->error);
      state->tsfn.BlockingCall([this, state, loop, abort](Napi::Env env, Napi::Function) {
        running_ = false;
        if (state->failed) {
          state->deferred.Reject(make_error(env, state->error.code.c_str(), state->error.message).Value());
        } else {
          Napi::Object o = Napi::Object::New(env);
          o.Set("step", static_cast<double>(loop->global_step()));
          o.Set("finished", loop->finished());
          o.Set("aborted", abort->load());
          state->deferred.Resolve(o);
        }
        Unref();
      });
      state->tsfn.Release();
    });
    return state->deferred.Promise();
  }

  Napi::Value abort(const Napi::CallbackInfo& info) {
    if (abort_) abort_->store(true);
    return info.Env().Undefined();
  }

  Napi::Value info(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!loop_) throw make_error(env, "ERR_DISPOSED", "the native trainer was used after dispose()");
    Napi::Object o = Napi::Object::New(env);
    o.Set("step", static_cast<double>(loop_->global_step()));
    o.Set("totalSteps", static_cast<double>(loop_->total_steps()));
    o.Set("stepsPerEpoch", static_cast<double>(loop_->steps_per_epoch()));
    o.Set("warmupSteps", static_cast<double>(loop_->warmup()));
    o.Set("running", running_);
    return o;
  }

  // The path argument of saveState/loadState, once no run is in progress.
  std::string idle_path_arg(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!loop_) throw make_error(env, "ERR_DISPOSED", "the native trainer was used after dispose()");
    if (running_) throw make_error(env, code::kInvalidArgument, "Expected no run in progress");
    return path_value(env, info[0], "path");
  }

  // saveState(path) -> Promise: optimizer moments, step and RNG state as safetensors.
  Napi::Value save_state(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const std::string path = idle_path_arg(info);
    auto loop = loop_;
    return settle_when_done(env, [loop, path] {
      NamedTensors tensors;
      for (auto& [name, t] : loop->state()) tensors.emplace_back(name, t.detach().to(at::kCPU).contiguous());
      write_safetensors(path, tensors, {{"format", "lora-node-trainer-state"}});
    });
  }

  Napi::Value load_state(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const std::string path = idle_path_arg(info);
    auto loop = loop_;
    return settle_when_done(env, [loop, path] {
      auto file = SafetensorsFile::open(path);
      std::map<std::string, at::Tensor> state;
      for (const auto& e : file->entries()) state[e.name] = file->tensor(e.name);
      loop->load_state(state);
    });
  }

  // Idempotent. A run in progress stops at its next step and still settles its Promise.
  Napi::Value dispose(const Napi::CallbackInfo& info) {
    if (abort_) abort_->store(true);
    loop_.reset();
    return info.Env().Undefined();
  }

  static Napi::Value settle_when_done(Napi::Env env, std::function<void()> work) {
    return PromiseWorker::start(env, std::move(work), [](Napi::Env env) -> Napi::Value { return env.Undefined(); });
  }

  std::shared_ptr<DistilBertClassifier> model_;
  std::shared_ptr<TrainLoop> loop_;
  std::shared_ptr<std::atomic<bool>> abort_;
  std::thread thread_;
  bool running_ = false;
  int threads_ = 1;
};

}  // namespace

void register_trainer(Napi::Env env, Napi::Object exports) {
  exports.Set("NativeTrainer", NativeTrainer::define(env));
}

}  // namespace lora::addon
