// The addon boundary: every C++ exception becomes a JS Error with a `code`.
// Nothing thrown by libtorch or our core may escape into Node as an abort.
#pragma once

#include <napi.h>

#include <c10/util/Exception.h>

#include <string>

#include "core/errors.h"

namespace lora::addon {

inline Napi::Error make_error(Napi::Env env, const char* code, const std::string& message) {
  Napi::Error error = Napi::Error::New(env, message);
  error.Set("code", Napi::String::New(env, code));
  return error;
}

// A code + message pair captured on a worker thread, raised later on the JS thread.
struct CapturedError {
  std::string code;
  std::string message;
};

// Runs fn, converting every exception into a CapturedError. Returns true on success.
template <typename Fn>
bool capture_errors(Fn&& fn, CapturedError* out) {
  try {
    fn();
    return true;
  } catch (const Napi::Error&) {
    throw;  // already a JS error with its own code
  } catch (const lora::Error& e) {
    *out = {e.code(), e.what()};
  } catch (const c10::Error& e) {
    *out = {code::kInternal, std::string("libtorch: ") + e.what_without_backtrace()};
  } catch (const std::bad_alloc&) {
    *out = {code::kInternal, "out of memory"};
  } catch (const std::exception& e) {
    *out = {code::kInternal, e.what()};
  } catch (...) {
    *out = {code::kInternal, "unknown native exception"};
  }
  // what() stops at a NUL; an empty message would read as success to AsyncWorker.
  if (out->message.empty()) out->message = "native error without a message";
  return false;
}

// For synchronous entry points: run fn and rethrow any failure as a coded JS error.
template <typename Fn>
auto guarded(Napi::Env env, Fn&& fn) -> decltype(fn()) {
  CapturedError captured;
  using Result = decltype(fn());
  if constexpr (std::is_void_v<Result>) {
    if (!capture_errors([&] { fn(); }, &captured)) throw make_error(env, captured.code.c_str(), captured.message);
  } else {
    Result result{};
    if (!capture_errors([&] { result = fn(); }, &captured))
      throw make_error(env, captured.code.c_str(), captured.message);
    return result;
  }
}

}  // namespace lora::addon
