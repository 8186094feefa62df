// readSafetensors / writeSafetensors: safetensors files as plain JS objects of
// typed arrays. Arguments are checked and copied on the JS thread; file I/O
// runs on libuv's pool (PromiseWorker).
//
//   readSafetensors(path) -> Promise<{ metadata, tensors: { [name]: { dtype, shape, data } } }>
//   writeSafetensors(path, tensors, metadata?) -> Promise<void>
//
// data is the typed array of the dtype (F32 Float32Array, F16/BF16 Uint16Array
// of raw bits, I64 BigInt64Array, I32 Int32Array, U8 Uint8Array, ...); for
// writing, a Uint8Array of raw little-endian bytes is accepted for any dtype.
#include <napi.h>

#include <ATen/ATen.h>

#include <cmath>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "addon/bindings.h"
#include "addon/js_values.h"
#include "addon/napi_errors.h"
#include "addon/promise_worker.h"
#include "core/errors.h"
#include "core/safetensors.h"

namespace lora::addon {

namespace {

struct JsDtype {
  const char* name;
  at::ScalarType type;
  size_t size;
  napi_typedarray_type array;   // the typed array read back for this dtype
  const char* array_name;
};

constexpr JsDtype kJsDtypes[] = {
    {"F32", at::kFloat, 4, napi_float32_array, "Float32Array"},
    {"F16", at::kHalf, 2, napi_uint16_array, "Uint16Array"},
    {"BF16", at::kBFloat16, 2, napi_uint16_array, "Uint16Array"},
    {"I64", at::kLong, 8, napi_bigint64_array, "BigInt64Array"},
    {"I32", at::kInt, 4, napi_int32_array, "Int32Array"},
    {"U8", at::kByte, 1, napi_uint8_array, "Uint8Array"},
    {"BOOL", at::kBool, 1, napi_uint8_array, "Uint8Array"},
    {"I8", at::kChar, 1, napi_int8_array, "Int8Array"},
    {"I16", at::kShort, 2, napi_int16_array, "Int16Array"},
    {"F64", at::kDouble, 8, napi_float64_array, "Float64Array"},
};

const JsDtype* find_dtype(const std::string& name) {
  for (const auto& d : kJsDtypes)
    if (name == d.name) return &d;
  return nullptr;
}

std::string known_dtypes() {
  std::string out;
  for (const auto& d : kJsDtypes) out += (out.empty() ? "" : ", ") + std::string(d.name);
  return out;
}








std::string shape_text(const std::vector<int64_t>& shape) {
  std::string out = "[";
  for (size_t i = 0; i < shape.size(); ++i) out += (i ? ", " : "") + std::to_string(shape[i]);
  return out + "]";
}

// --- readSafetensors ---

struct ReadResult {
  std::vector<SafetensorsEntry> entries;
  std::vector<at::Tensor> tensors;
  std::map<std::string, std::string> metadata;
};

Napi::Value make_typed_array(Napi::Env env, const JsDtype& dtype, const at::Tensor& tensor) {
  const size_t bytes = tensor.nbytes();
  Napi::ArrayBuffer buffer = Napi::ArrayBuffer::New(env, bytes);
  if (bytes > 0) std::memcpy(buffer.Data(), tensor.data_ptr(), bytes);
  napi_value array;
  napi_status status = napi_create_typedarray(env, dtype.array, bytes / dtype.size, buffer, 0, &array);
  if (status != napi_ok) throw Napi::Error::New(env);
  return Napi::Value(env, array);
}

Napi::Value read_safetensors(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = path_value(env, info[0], "path");
  auto result = std::make_shared<ReadResult>();
  return guarded(env, [&]() -> Napi::Value {
    return PromiseWorker::start(
      env,
      [path, result] {
        auto file = SafetensorsFile::open(path);
        result->entries = file->entries();
        result->metadata = file->metadata();
        result->tensors.reserve(result->entries.size());
        for (const auto& e : result->entries) result->tensors.push_back(file->tensor(e.name));
      },
      [result](Napi::Env env) -> Napi::Value {
        Napi::Object metadata = Napi::Object::New(env);
        for (const auto& [key, value] : result->metadata) define(metadata, key, Napi::String::New(env, value));
        Napi::Object tensors = Napi::Object::New(env);
        for (size_t i = 0; i < result->entries.size(); ++i) {
          const SafetensorsEntry& e = result->entries[i];
          const JsDtype* dtype = find_dtype(e.dtype);
          if (!dtype) fail(code::kSafetensorsHeader, "unknown dtype \"" + e.dtype + "\" for tensor " + js_quoted(e.name));
          Napi::Array shape = Napi::Array::New(env, e.shape.size());
          for (uint32_t d = 0; d < e.shape.size(); ++d) shape.Set(d, Napi::Number::New(env, static_cast<double>(e.shape[d])));
          Napi::Object tensor = Napi::Object::New(env);
          tensor.Set("dtype", Napi::String::New(env, e.dtype));
          tensor.Set("shape", shape);
          tensor.Set("data", make_typed_array(env, *dtype, result->tensors[i]));
          result->tensors[i] = at::Tensor();  // release each copy as soon as JS owns the bytes
          define(tensors, e.name, tensor);
        }
        Napi::Object out = Napi::Object::New(env);
        out.Set("metadata", metadata);
        out.Set("tensors", tensors);
        return out;
      });
  });
}

// --- writeSafetensors ---

constexpr double kMaxSafeInteger = 9007199254740991.0;  // Number.MAX_SAFE_INTEGER

at::Tensor tensor_from_js(Napi::Env env, const std::string& key, const Napi::Value& value) {
  const std::string name = "tensors[" + js_quoted(key) + "]";
  if (!is_plain_object(value)) throw_expected(env, "an object { dtype, shape, data }", name, value);
  Napi::Object object = value.As<Napi::Object>();

  Napi::Value dtype_value = object.Get("dtype");
  if (!dtype_value.IsString()) throw_expected(env, "a dtype string (" + known_dtypes() + ")", name + ".dtype", dtype_value);
  const std::string dtype_name = dtype_value.As<Napi::String>().Utf8Value();
  const JsDtype* dtype = find_dtype(dtype_name);
  if (!dtype) throw_expected(env, "one of " + known_dtypes(), name + ".dtype", dtype_value);

  Napi::Value shape_value = object.Get("shape");
  if (!shape_value.IsArray()) throw_expected(env, "an array of non-negative integers", name + ".shape", shape_value);
  Napi::Array shape_array = shape_value.As<Napi::Array>();
  std::vector<int64_t> shape;
  uint64_t bytes = dtype->size;
  bool overflow = false;
  for (uint32_t i = 0; i < shape_array.Length(); ++i) {
    Napi::Value dim = shape_array.Get(i);
    double d = dim.IsNumber() ? dim.As<Napi::Number>().DoubleValue() : -1;
    if (!dim.IsNumber() || !std::isfinite(d) || d < 0 || std::floor(d) != d || d > kMaxSafeInteger)
      throw_expected(env, "a non-negative integer", name + ".shape[" + std::to_string(i) + "]", dim);
    shape.push_back(static_cast<int64_t>(d));
    overflow = overflow || __builtin_mul_overflow(bytes, static_cast<uint64_t>(d), &bytes);
  }

  Napi::Value data = object.Get("data");
  napi_typedarray_type array_type = napi_uint8_array;
  size_t length = 0;
  void* bytes_ptr = nullptr;
  if (data.IsTypedArray()) {
    napi_value arraybuffer;
    size_t byte_offset = 0;
    if (napi_get_typedarray_info(env, data, &array_type, &length, &bytes_ptr, &arraybuffer, &byte_offset) != napi_ok)
      throw Napi::Error::New(env);
  }
  const bool raw_bytes = array_type == napi_uint8_array || array_type == napi_uint8_clamped_array;
  if (!data.IsTypedArray() || !(array_type == dtype->array || raw_bytes))
    throw_expected(env, std::string("a ") + dtype->array_name + " (or a Uint8Array of raw bytes)", name + ".data", data);
  const size_t byte_length = data.As<Napi::TypedArray>().ByteLength();
  if (overflow || bytes != byte_length)
    throw_expected(env,
                   "data of " + (overflow ? std::string("more than 2^64") : std::to_string(bytes)) + " bytes (dtype " +
                       dtype_name + ", shape " + shape_text(shape) + ")",
                   name + ".data", data);

  at::Tensor tensor = at::empty(shape, at::TensorOptions().dtype(dtype->type).device(at::kCPU));
  if (byte_length > 0) std::memcpy(tensor.data_ptr(), bytes_ptr, byte_length);
  return tensor;
}

std::map<std::string, std::string> metadata_from_js(Napi::Env env, const Napi::Value& value) {
  std::map<std::string, std::string> metadata;
  if (value.IsUndefined() || value.IsNull()) return metadata;
  if (!is_plain_object(value)) throw_expected(env, "an object of string values", "metadata", value);
  Napi::Object object = value.As<Napi::Object>();
  for (const std::string& key : own_keys(env, object)) {
    Napi::Value v = object.Get(key);
    if (!v.IsString()) throw_expected(env, "a string", "metadata[" + js_quoted(key) + "]", v);
    metadata[key] = v.As<Napi::String>().Utf8Value();
  }
  return metadata;
}

Napi::Value write_safetensors_js(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    std::string path = path_value(env, info[0], "path");
    Napi::Value tensors_value = info[1];
    if (!is_plain_object(tensors_value))
      throw_expected(env, "an object mapping tensor names to { dtype, shape, data }", "tensors", tensors_value);
    Napi::Object tensors_object = tensors_value.As<Napi::Object>();
    auto tensors = std::make_shared<std::vector<std::pair<std::string, at::Tensor>>>();
    for (const std::string& key : own_keys(env, tensors_object)) {
      if (key == "__metadata__")
        throw make_error(env, code::kInvalidArgument,
                         "Expected a tensor name other than \"__metadata__\" (reserved) for tensors but received it as a key");
      tensors->emplace_back(key, tensor_from_js(env, key, tensors_object.Get(key)));
    }
    auto metadata = std::make_shared<std::map<std::string, std::string>>(metadata_from_js(env, info[2]));
    return PromiseWorker::start(
        env, [path, tensors, metadata] { write_safetensors(path, *tensors, *metadata); },
        [](Napi::Env env) -> Napi::Value { return env.Undefined(); });
  });
}

}  // namespace

void register_safetensors(Napi::Env env, Napi::Object exports) {
  exports.Set("readSafetensors", Napi::Function::New(env, read_safetensors, "readSafetensors"));
  exports.Set("writeSafetensors", Napi::Function::New(env, write_safetensors_js, "writeSafetensors"));
}

}  // namespace lora::addon
