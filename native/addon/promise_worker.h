// An AsyncWorker that runs `work` on libuv's pool and settles a Promise:
// resolved with `resolve(env)` on the JS thread, or rejected with a coded error.
#pragma once

#include <napi.h>

#include <functional>
#include <utility>

#include "addon/napi_errors.h"

namespace lora::addon {

class PromiseWorker : public Napi::AsyncWorker {
 public:
  using Work = std::function<void()>;
  using Resolve = std::function<Napi::Value(Napi::Env)>;

  static Napi::Promise start(Napi::Env env, Work work, Resolve resolve) {
    auto* worker = new PromiseWorker(env, std::move(work), std::move(resolve));
    Napi::Promise promise = worker->deferred_.Promise();
    worker->Queue();  // libuv owns and deletes the worker after it settles
    return promise;
  }

 protected:
  void Execute() override {
    if (!capture_errors(work_, &error_)) SetError(error_.message);
  }

  void OnOK() override {
    Napi::Env env = Env();
    CapturedError captured;
    Napi::Value value;
    bool ok = false;
    try {
      ok = capture_errors([&] { value = resolve_(env); }, &captured);
    } catch (const Napi::Error& e) {
      deferred_.Reject(e.Value());
      return;
    }
    if (ok) {
      deferred_.Resolve(value);
    } else {
      deferred_.Reject(make_error(env, captured.code.c_str(), captured.message).Value());
    }
  }

  void OnError(const Napi::Error&) override {
    deferred_.Reject(make_error(Env(), error_.code.c_str(), error_.message).Value());
  }

 private:
  PromiseWorker(Napi::Env env, Work work, Resolve resolve)
      : Napi::AsyncWorker(env, "lora-node"),
        deferred_(Napi::Promise::Deferred::New(env)),
        work_(std::move(work)),
        resolve_(std::move(resolve)) {}

  Napi::Promise::Deferred deferred_;
  Work work_;
  Resolve resolve_;
  CapturedError error_;
};

}  // namespace lora::addon
