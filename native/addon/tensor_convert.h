// Typed arrays <-> tensors. Inputs are copied on the JS thread (the JS buffer
// may move or be collected while a worker runs); outputs are copied into new
// JS-owned buffers on the JS thread.
#pragma once

#include <napi.h>

#include <ATen/ATen.h>

#include <string>

#include "addon/napi_errors.h"

namespace lora::addon {

// Int32Array of exactly `count` elements -> int64 tensor of `shape`.
inline at::Tensor int32_array_to_long(Napi::Env env, const Napi::Value& value, const char* name, int64_t count,
                                      at::IntArrayRef shape) {
  if (!value.IsTypedArray() || value.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array)
    throw make_error(env, code::kInvalidArgument, std::string("Expected an Int32Array for ") + name);
  auto array = value.As<Napi::Int32Array>();
  if (static_cast<int64_t>(array.ElementLength()) != count)
    throw make_error(env, code::kInvalidArgument,
                     std::string("Expected ") + name + " of length " + std::to_string(count) +
                         " (batchSize × seqLen) but received length " + std::to_string(array.ElementLength()));
  at::Tensor copy = at::empty({count}, at::kInt);
  if (count > 0) std::memcpy(copy.data_ptr<int32_t>(), array.Data(), count * sizeof(int32_t));
  return copy.to(at::kLong).view(shape);
}

// Any float tensor -> a new Float32Array holding its values (row-major).
inline Napi::Float32Array tensor_to_float32_array(Napi::Env env, const at::Tensor& tensor) {
  at::Tensor t = tensor.to(at::kCPU, at::kFloat).contiguous();
  auto out = Napi::Float32Array::New(env, t.numel());
  if (t.numel() > 0) std::memcpy(out.Data(), t.data_ptr<float>(), t.numel() * sizeof(float));
  return out;
}

inline int64_t positive_int(Napi::Env env, const Napi::Value& value, const char* name) {
  if (!value.IsNumber()) throw make_error(env, code::kInvalidArgument, std::string("Expected a positive integer for ") + name);
  const double d = value.As<Napi::Number>().DoubleValue();
  if (!(d >= 1) || d != static_cast<double>(static_cast<int64_t>(d)) || d > 1e12)
    throw make_error(env, code::kInvalidArgument,
                     std::string("Expected a positive integer for ") + name + " but received " + std::to_string(d));
  return static_cast<int64_t>(d);
}

inline std::string string_option(Napi::Env env, const Napi::Object& options, const char* key, const char* fallback) {
  if (!options.Has(key) || options.Get(key).IsUndefined()) return fallback;
  Napi::Value v = options.Get(key);
  if (!v.IsString()) throw make_error(env, code::kInvalidArgument, std::string("Expected a string for options.") + key);
  return v.As<Napi::String>().Utf8Value();
}

}  // namespace lora::addon
