// 4-bit quantization (native/core/quantize.h) for JavaScript. Arguments are
// checked and copied on the JS thread; the work runs on libuv's pool.
//
//   quantize4bit(data, shape, { type, blockSize, doubleQuant, dtype })
//     -> Promise<{ type, blockSize, dtype, shape, data: Uint8Array,
//                  absmax: Float32Array | Uint8Array, nestedAbsmax?: Float32Array,
//                  offset?: number, nestedBlockSize?: number, quantState: string }>
//   dequantize4bit(packed, { dtype }?) -> Promise<Float32Array | Uint16Array (bf16/fp16 bits)>
//   parseQuantState(json) -> { quantType, blockSize, dtype, shape, nestedBlockSize?, nestedDtype?, nestedOffset? }
//   quantMaps() -> { nf4, fp4, dynamic: Float32Array }   the code tables (weight.quant_map, weight.nested_quant_map)
//   copyBenchmark(bytes, repeats) -> Promise<number[]>            seconds of each tensor copy_
//   dequantizeBenchmark(packed, repeats, { dtype }?) -> Promise<number[]>  seconds of each dequantization
//
// data is a Float32Array, or a Uint16Array of raw bits when dtype is 'bfloat16'
// or 'float16' (a Float32Array must then hold values of that dtype exactly).
// packed may carry quantState (the quant_state JSON); fields it names may then
// be left out, and fields given must agree with it.
#include <napi.h>

#include <ATen/ATen.h>
#include <c10/util/BFloat16.h>
#include <c10/util/Half.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "addon/bindings.h"
#include "addon/js_values.h"
#include "addon/napi_errors.h"
#include "addon/promise_worker.h"
#include "core/errors.h"
#include "core/text_format.h"
#include "core/quantize.h"

namespace lora::addon {

namespace {

constexpr double kMaxSafeInteger = 9007199254740991.0;

bool is_typed(const Napi::Value& v, napi_typedarray_type type) {
  return v.IsTypedArray() && v.As<Napi::TypedArray>().TypedArrayType() == type;
}

int64_t integer(Napi::Env env, const Napi::Value& v, const std::string& what, const std::string& name, double min) {
  const double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : NAN;
  if (!v.IsNumber() || !(d >= min) || std::floor(d) != d || d > kMaxSafeInteger) throw_expected(env, what, name, v);
  return static_cast<int64_t>(d);
}

std::vector<int64_t> read_shape(Napi::Env env, const Napi::Value& v, const std::string& name) {
  if (!v.IsArray()) throw_expected(env, "an array of non-negative integers", name, v);
  Napi::Array array = v.As<Napi::Array>();
  std::vector<int64_t> shape;
  double product = 1;
  for (uint32_t i = 0; i < array.Length(); ++i) {
    shape.push_back(integer(env, array.Get(i), "a non-negative integer", name + "[" + std::to_string(i) + "]", 0));
    product *= static_cast<double>(shape.back());
  }
  if (product > kMaxSafeInteger) throw_expected(env, "a shape of at most 2^53 elements", name, v);
  return shape;
}

int64_t numel(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

void check_blocksize_js(Napi::Env env, const Napi::Value& v, int64_t value, const std::string& name) {
  if (!nf4::valid_blocksize(value)) throw_expected(env, "one of 32, 64, 128, 256, 512, 1024, 2048, 4096", name, v);
}

// A typed array of `type` and exactly `count` elements, copied into a new tensor.
at::Tensor copy_array(Napi::Env env, const Napi::Value& v, napi_typedarray_type type, const char* array_name,
                      at::ScalarType dtype, size_t element_size, int64_t count, const std::string& name) {
  if (!is_typed(v, type) || static_cast<int64_t>(v.As<Napi::TypedArray>().ElementLength()) != count)
    throw_expected(env, std::string("a ") + array_name + " of length " + std::to_string(count), name, v);
  Napi::TypedArray array = v.As<Napi::TypedArray>();
  at::Tensor t = at::empty({count}, dtype);
  if (count > 0)
    std::memcpy(t.data_ptr(), static_cast<const uint8_t*>(array.ArrayBuffer().Data()) + array.ByteOffset(),
                static_cast<size_t>(count) * element_size);
  return t;
}

Napi::Value tensor_to_js(Napi::Env env, const at::Tensor& t) {
  const at::Tensor c = t.contiguous();
  if (c.scalar_type() == at::kByte) {
    auto out = Napi::Uint8Array::New(env, c.numel());
    if (c.numel()) std::memcpy(out.Data(), c.data_ptr<uint8_t>(), c.numel());
    return out;
  }
  auto out = Napi::Float32Array::New(env, c.numel());
  if (c.numel()) std::memcpy(out.Data(), c.data_ptr<float>(), c.numel() * sizeof(float));
  return out;
}

Napi::Array shape_to_js(Napi::Env env, const std::vector<int64_t>& shape) {
  Napi::Array a = Napi::Array::New(env, shape.size());
  for (uint32_t i = 0; i < shape.size(); ++i) a.Set(i, Napi::Number::New(env, static_cast<double>(shape[i])));
  return a;
}

at::ScalarType read_dtype(Napi::Env env, const Napi::Value& v, const std::string& name) {
  if (v.IsString()) {
    const std::string s = v.As<Napi::String>().Utf8Value();
    if (s == "float32") return at::kFloat;
    if (s == "bfloat16") return at::kBFloat16;
    if (s == "float16") return at::kHalf;
  }
  throw_expected(env, "'float32', 'bfloat16' or 'float16'", name, v);
}

QuantType read_type(Napi::Env env, const Napi::Value& v, const std::string& name) {
  if (v.IsString()) {
    const std::string s = v.As<Napi::String>().Utf8Value();
    if (s == "nf4") return QuantType::kNf4;
    if (s == "fp4") return QuantType::kFp4;
  }
  throw_expected(env, "'nf4' or 'fp4'", name, v);
}

Napi::Object options_object(Napi::Env env, const Napi::Value& v, const std::string& name) {
  if (v.IsUndefined()) return Napi::Object::New(env);
  if (!is_plain_object(v)) throw_expected(env, "an options object", name, v);
  return v.As<Napi::Object>();
}

// --- quantize4bit ---

Napi::Value quantize4bit_js(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object options = options_object(env, info[2], "options");

  const Napi::Value type_v = options.Get("type");
  const QuantType type = type_v.IsUndefined() ? QuantType::kNf4 : read_type(env, type_v, "options.type");
  const Napi::Value block_v = options.Get("blockSize");
  const int64_t blocksize = block_v.IsUndefined() ? 64 : integer(env, block_v, "one of 32, 64, 128, 256, 512, 1024, 2048, 4096", "options.blockSize", 1);
  check_blocksize_js(env, block_v, blocksize, "options.blockSize");
  const Napi::Value dq_v = options.Get("doubleQuant");
  if (!dq_v.IsUndefined() && !dq_v.IsBoolean()) throw_expected(env, "a boolean", "options.doubleQuant", dq_v);
  const bool double_quant = dq_v.IsUndefined() ? true : dq_v.As<Napi::Boolean>().Value();
  const Napi::Value dtype_v = options.Get("dtype");
  const at::ScalarType dtype = dtype_v.IsUndefined() ? at::kFloat : read_dtype(env, dtype_v, "options.dtype");

  const std::vector<int64_t> shape = read_shape(env, info[1], "shape");
  const int64_t n = numel(shape);
  if (n < 1) throw_expected(env, "a shape with at least one element", "shape", info[1]);

  const Napi::Value data_v = info[0];
  at::Tensor weights;
  if (is_typed(data_v, napi_uint16_array) && dtype != at::kFloat) {
    weights = copy_array(env, data_v, napi_uint16_array, "Uint16Array", dtype, 2, n, "data").view(shape);
  } else {
    const std::string what = dtype == at::kFloat ? "Float32Array" : "Float32Array or Uint16Array";
    if (!is_typed(data_v, napi_float32_array) ||
        static_cast<int64_t>(data_v.As<Napi::TypedArray>().ElementLength()) != n)
      throw_expected(env, "a " + what + " of length " + std::to_string(n) + " (shape " + shape_text(shape) + ")", "data",
                     data_v);
    weights = copy_array(env, data_v, napi_float32_array, "Float32Array", at::kFloat, 4, n, "data").view(shape);
  }

  auto result = std::make_shared<Quantized4bit>();
  return PromiseWorker::start(
      env,
      [weights, dtype, type, blocksize, double_quant, result] {
        at::Tensor w = weights;
        if (w.scalar_type() != dtype) {
          // float32 values that must be exactly dtype's (e.g. bf16 weights widened to float32)
          const float* p = w.data_ptr<float>();
          for (int64_t i = 0; i < w.numel(); ++i) {
            const float back =
                dtype == at::kBFloat16 ? static_cast<float>(c10::BFloat16(p[i])) : static_cast<float>(c10::Half(p[i]));
            if (std::isfinite(p[i]) && back != p[i])
              fail(code::kInvalidArgument, std::string("Expected ") + dtype_name(dtype) + " values for data but received " +
                                               std::to_string(p[i]) + " at index " + std::to_string(i));
          }
          w = w.to(dtype);
        }
        *result = quantize_4bit(w, type, blocksize, double_quant);
      },
      [result](Napi::Env env) -> Napi::Value {
        const Quantized4bit& q = *result;
        Napi::Object out = Napi::Object::New(env);
        out.Set("type", quant_type_name(q.type));
        out.Set("blockSize", Napi::Number::New(env, static_cast<double>(q.blocksize)));
        out.Set("dtype", dtype_name(q.dtype));
        out.Set("shape", shape_to_js(env, q.shape));
        out.Set("data", tensor_to_js(env, q.packed));
        out.Set("absmax", tensor_to_js(env, q.absmax));
        if (q.double_quant()) {
          out.Set("nestedAbsmax", tensor_to_js(env, q.nested_absmax));
          out.Set("offset", Napi::Number::New(env, static_cast<double>(q.offset)));
          out.Set("nestedBlockSize", Napi::Number::New(env, static_cast<double>(q.nested_blocksize)));
        }
        out.Set("quantState", quant_state_json(q));
        return out;
      });
}

// --- packed input (dequantize4bit, dequantizeBenchmark) ---

Quantized4bit read_packed(Napi::Env env, const Napi::Value& value) {
  if (!is_plain_object(value)) throw_expected(env, "a packed 4-bit object", "packed", value);
  Napi::Object packed = value.As<Napi::Object>();

  std::optional<QuantStateInfo> state;
  const Napi::Value state_v = packed.Get("quantState");
  if (!state_v.IsUndefined()) {
    if (!state_v.IsString()) throw_expected(env, "a quant_state JSON string", "packed.quantState", state_v);
    const std::string text = state_v.As<Napi::String>().Utf8Value();
    state = guarded(env, [&] { return std::optional<QuantStateInfo>(parse_quant_state(text)); });
  }
  auto disagree = [&](const std::string& what, const std::string& name, const Napi::Value& v) {
    throw_expected(env, what + " (as packed.quantState says)", name, v);
  };

  Quantized4bit q;
  const Napi::Value type_v = packed.Get("type");
  if (type_v.IsUndefined() && !state) throw_expected(env, "'nf4' or 'fp4'", "packed.type", type_v);
  q.type = type_v.IsUndefined() ? state->type : read_type(env, type_v, "packed.type");
  if (state && q.type != state->type) disagree(std::string("'") + quant_type_name(state->type) + "'", "packed.type", type_v);

  const Napi::Value block_v = packed.Get("blockSize");
  if (block_v.IsUndefined() && !state) throw_expected(env, "one of 32, 64, 128, 256, 512, 1024, 2048, 4096", "packed.blockSize", block_v);
  q.blocksize = block_v.IsUndefined() ? state->blocksize
                                      : integer(env, block_v, "one of 32, 64, 128, 256, 512, 1024, 2048, 4096", "packed.blockSize", 1);
  check_blocksize_js(env, block_v, q.blocksize, "packed.blockSize");
  if (state && q.blocksize != state->blocksize) disagree(std::to_string(state->blocksize), "packed.blockSize", block_v);

  const Napi::Value shape_v = packed.Get("shape");
  if (shape_v.IsUndefined() && !state) throw_expected(env, "an array of non-negative integers", "packed.shape", shape_v);
  q.shape = shape_v.IsUndefined() ? state->shape : read_shape(env, shape_v, "packed.shape");
  if (state && q.shape != state->shape) disagree("the shape " + shape_text(state->shape), "packed.shape", shape_v);
  const int64_t n = numel(q.shape);
  if (n < 1) throw_expected(env, "a shape with at least one element", "packed.shape", shape_v);

  const Napi::Value dtype_v = packed.Get("dtype");
  q.dtype = dtype_v.IsUndefined() ? (state ? state->dtype : at::kFloat) : read_dtype(env, dtype_v, "packed.dtype");
  if (state && q.dtype != state->dtype) disagree(std::string("'") + dtype_name(state->dtype) + "'", "packed.dtype", dtype_v);

  const int64_t blocks = nf4::ceil_div(n, q.blocksize);
  q.packed = copy_array(env, packed.Get("data"), napi_uint8_array, "Uint8Array", at::kByte, 1, (n + 1) / 2, "packed.data")
                 .view({(n + 1) / 2, 1});

  const Napi::Value nested_v = packed.Get("nestedAbsmax");
  const bool nested = !nested_v.IsUndefined() || (state && state->nested);
  if (state && !state->nested && !nested_v.IsUndefined())
    throw_expected(env, "undefined (packed.quantState has no double quantization)", "packed.nestedAbsmax", nested_v);
  if (!nested) {
    q.absmax = copy_array(env, packed.Get("absmax"), napi_float32_array, "Float32Array", at::kFloat, 4, blocks, "packed.absmax");
    return q;
  }
  const Napi::Value nbs_v = packed.Get("nestedBlockSize");
  q.nested_blocksize = nbs_v.IsUndefined() ? (state ? state->nested_blocksize : kNestedBlocksize)
                                           : integer(env, nbs_v, "one of 32, 64, 128, 256, 512, 1024, 2048, 4096", "packed.nestedBlockSize", 1);
  check_blocksize_js(env, nbs_v, q.nested_blocksize, "packed.nestedBlockSize");
  if (state && q.nested_blocksize != state->nested_blocksize)
    disagree(std::to_string(state->nested_blocksize), "packed.nestedBlockSize", nbs_v);
  q.absmax = copy_array(env, packed.Get("absmax"), napi_uint8_array, "Uint8Array", at::kByte, 1, blocks, "packed.absmax");
  q.nested_absmax = copy_array(env, nested_v, napi_float32_array, "Float32Array", at::kFloat, 4,
                               nf4::ceil_div(blocks, q.nested_blocksize), "packed.nestedAbsmax");
  const Napi::Value offset_v = packed.Get("offset");
  if (offset_v.IsUndefined() && state) {
    q.offset = static_cast<float>(state->nested_offset);
  } else {
    if (!offset_v.IsNumber() || !std::isfinite(offset_v.As<Napi::Number>().DoubleValue()))
      throw_expected(env, "a finite number", "packed.offset", offset_v);
    q.offset = static_cast<float>(offset_v.As<Napi::Number>().DoubleValue());
    if (state && q.offset != static_cast<float>(state->nested_offset))
      disagree("the number " + python_float_repr(state->nested_offset), "packed.offset", offset_v);
  }
  return q;
}

// A JS-owned output buffer the worker writes into directly (no copy at the end).
struct OutputBuffer {
  std::shared_ptr<Napi::Reference<Napi::TypedArray>> ref;
  void* data = nullptr;
};

OutputBuffer new_output(Napi::Env env, at::ScalarType dtype, int64_t n) {
  OutputBuffer out;
  Napi::TypedArray array;
  if (dtype == at::kFloat) {
    auto a = Napi::Float32Array::New(env, static_cast<size_t>(n));
    out.data = a.Data();
    array = a;
  } else {
    auto a = Napi::Uint16Array::New(env, static_cast<size_t>(n));
    out.data = a.Data();
    array = a;
  }
  out.ref = std::make_shared<Napi::Reference<Napi::TypedArray>>(Napi::Persistent(array));
  return out;
}

at::ScalarType output_dtype(Napi::Env env, const Napi::Value& options_v) {
  Napi::Object options = options_object(env, options_v, "options");
  const Napi::Value v = options.Get("dtype");
  return v.IsUndefined() ? at::kFloat : read_dtype(env, v, "options.dtype");
}

Napi::Value dequantize4bit_js(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto q = std::make_shared<Quantized4bit>(read_packed(env, info[0]));
  const at::ScalarType dtype = output_dtype(env, info[1]);
  guarded(env, [&] { check_quantized(*q); });  // finite block statistics, before allocating the output
  OutputBuffer out = new_output(env, dtype, q->numel());
  void* data = out.data;
  auto ref = out.ref;
  return PromiseWorker::start(
      env, [q, dtype, data] { dequantize_4bit_into(*q, dtype, data); },
      [ref](Napi::Env) -> Napi::Value { return ref->Value(); });
}

// --- parseQuantState ---

Napi::Value parse_quant_state_js(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString()) throw_expected(env, "a quant_state JSON string", "json", info[0]);
  const std::string text = info[0].As<Napi::String>().Utf8Value();
  const QuantStateInfo s = guarded(env, [&] { return parse_quant_state(text); });
  Napi::Object out = Napi::Object::New(env);
  out.Set("quantType", quant_type_name(s.type));
  out.Set("blockSize", Napi::Number::New(env, static_cast<double>(s.blocksize)));
  out.Set("dtype", dtype_name(s.dtype));
  out.Set("shape", shape_to_js(env, s.shape));
  if (s.nested) {
    out.Set("nestedBlockSize", Napi::Number::New(env, static_cast<double>(s.nested_blocksize)));
    out.Set("nestedDtype", "float32");
    out.Set("nestedOffset", Napi::Number::New(env, s.nested_offset));
  }
  return out;
}

// --- quantMaps ---

Napi::Value table_to_js(Napi::Env env, const float* table, size_t count) {
  auto out = Napi::Float32Array::New(env, count);
  std::memcpy(out.Data(), table, count * sizeof(float));
  return out;
}

Napi::Value quant_maps_js(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object out = Napi::Object::New(env);
  out.Set("nf4", table_to_js(env, nf4::kNf4Code, 16));
  out.Set("fp4", table_to_js(env, nf4::kFp4Code, 16));
  out.Set("dynamic", table_to_js(env, nf4::kDynamicMap, 256));
  return out;
}

// --- benchmarks ---

int64_t read_repeats(Napi::Env env, const Napi::Value& v) {
  const int64_t r = integer(env, v, "an integer from 1 to 1000", "repeats", 1);
  if (r > 1000) throw_expected(env, "an integer from 1 to 1000", "repeats", v);
  return r;
}

Napi::Value seconds_to_js(Napi::Env env, const std::vector<double>& seconds) {
  Napi::Array a = Napi::Array::New(env, seconds.size());
  for (uint32_t i = 0; i < seconds.size(); ++i) a.Set(i, Napi::Number::New(env, seconds[i]));
  return a;
}

template <typename Fn>
std::vector<double> time_repeats(int64_t repeats, Fn&& fn) {
  fn();  // warm-up: pages touched, threads started
  std::vector<double> seconds;
  for (int64_t r = 0; r < repeats; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    fn();
    seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  return seconds;
}

Napi::Value copy_benchmark_js(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int64_t bytes = integer(env, info[0], "a positive integer of at most 2^34", "bytes", 1);
  if (bytes > (int64_t{1} << 34)) throw_expected(env, "a positive integer of at most 2^34", "bytes", info[0]);
  const int64_t repeats = read_repeats(env, info[1]);
  auto seconds = std::make_shared<std::vector<double>>();
  return PromiseWorker::start(
      env,
      [bytes, repeats, seconds] {
        at::Tensor src = at::full({bytes}, 7, at::kByte);
        at::Tensor dst = at::zeros({bytes}, at::kByte);
        *seconds = time_repeats(repeats, [&] { dst.copy_(src); });
      },
      [seconds](Napi::Env env) { return seconds_to_js(env, *seconds); });
}

Napi::Value dequantize_benchmark_js(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto q = std::make_shared<Quantized4bit>(read_packed(env, info[0]));
  const int64_t repeats = read_repeats(env, info[1]);
  const at::ScalarType dtype = output_dtype(env, info[2]);
  auto seconds = std::make_shared<std::vector<double>>();
  return PromiseWorker::start(
      env,
      [q, repeats, dtype, seconds] {
        at::Tensor out = at::empty({q->numel()}, dtype);
        *seconds = time_repeats(repeats, [&] { dequantize_4bit_into(*q, dtype, out.data_ptr()); });
      },
      [seconds](Napi::Env env) { return seconds_to_js(env, *seconds); });
}

}  // namespace

void register_quant(Napi::Env env, Napi::Object exports) {
  exports.Set("quantize4bit", Napi::Function::New(env, quantize4bit_js, "quantize4bit"));
  exports.Set("dequantize4bit", Napi::Function::New(env, dequantize4bit_js, "dequantize4bit"));
  exports.Set("parseQuantState", Napi::Function::New(env, parse_quant_state_js, "parseQuantState"));
  exports.Set("quantMaps", Napi::Function::New(env, quant_maps_js, "quantMaps"));
  exports.Set("copyBenchmark", Napi::Function::New(env, copy_benchmark_js, "copyBenchmark"));
  exports.Set("dequantizeBenchmark", Napi::Function::New(env, dequantize_benchmark_js, "dequantizeBenchmark"));
}

}  // namespace lora::addon
