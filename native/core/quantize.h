// Blockwise 4-bit quantization (NF4/FP4) exactly as bitsandbytes' default
// (pure torch, CPU) backend does it, with double quantization of the block
// absmax, and the quant_state JSON that bitsandbytes stores beside the weight
// (`weight.quant_state.bitsandbytes__nf4`). The semantics, step by step, are in
// test/fixtures/GOLDEN.md ("NF4"); the per-element math is native/core/nf4_codes.h,
// shared with the CUDA kernels.
//
//   n = numel(shape), blocks = ceil(n / blocksize)
//   packed         uint8   [ceil(n/2), 1]   two codes a byte, element 2i in the high nibble
//   absmax         float32 [blocks]         (no double quant)
//                  uint8   [blocks]         (double quant: 8-bit codes of absmax - offset)
//   nested_absmax  float32 [ceil(blocks / nested_blocksize)]   (double quant only)
//   offset         float32 mean of the float32 absmax           (double quant only)
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/nf4_codes.h"

namespace lora {

using QuantType = nf4::QuantType;

inline constexpr int64_t kNestedBlocksize = 256;

struct Quantized4bit {
  QuantType type = QuantType::kNf4;
  int64_t blocksize = 64;
  at::ScalarType dtype = at::kFloat;  // the original weights' dtype: quant_state "dtype"
  std::vector<int64_t> shape;
  at::Tensor packed;
  at::Tensor absmax;
  at::Tensor nested_absmax;  // defined only with double quant
  float offset = 0.0f;
  int64_t nested_blocksize = kNestedBlocksize;
  // packed, absmax and nested_absmax on a CUDA device, copied there on first use by
  // quantized_linear.cpp. Valid because the codes never change once made (a merge
  // builds a new Quantized4bit); copies of this struct may share it for that reason.
  struct OnDevice {
    at::Device device;
    at::Tensor packed, absmax, nested_absmax;
  };
  mutable std::shared_ptr<const OnDevice> on_device;  // std::atomic_load / atomic_store

  bool double_quant() const { return nested_absmax.defined(); }
  int64_t numel() const;
  int64_t blocks() const { return nf4::ceil_div(numel(), blocksize); }
};

const char* quant_type_name(QuantType type);  // "nf4" | "fp4"
// "nf4" | "fp4", else ERR_INVALID_ARGUMENT naming `name`.
QuantType parse_quant_type(const std::string& text, const std::string& name);
const char* dtype_name(at::ScalarType dtype);  // "float32" | "bfloat16" | "float16"
at::ScalarType parse_dtype_name(const std::string& text, const std::string& name);
// A power of two from 32 to 4096, else ERR_INVALID_ARGUMENT naming `name`.
void check_blocksize(int64_t blocksize, const std::string& name);

// Index of the first NaN or infinite value, or -1.
int64_t first_non_finite(const float* values, int64_t n);

// Quantizes float32/bfloat16/float16 weights (any shape, at least one element;
// NaN or Inf -> ERR_INVALID_ARGUMENT naming the first bad index). Multi-threaded
// over blocks (at::parallel_for).
Quantized4bit quantize_4bit(const at::Tensor& weights, QuantType type, int64_t blocksize, bool double_quant);

// Checks every size and dtype of `q` against its shape and block sizes, and that
// the block statistics are finite (ERR_INVALID_ARGUMENT).
void check_quantized(const Quantized4bit& q);

// The float32 absmax of every block (double quant: map[q] * nested_absmax + offset).
at::Tensor dequantize_absmax(const Quantized4bit& q);

// code[q] * absmax in float32, rounded to nearest even for bfloat16/float16 outputs.
// Shape q.shape, dtype out_dtype (float32, bfloat16 or float16).
at::Tensor dequantize_4bit(const Quantized4bit& q, at::ScalarType out_dtype = at::kFloat);
// The same into caller memory: numel() floats, or numel() 16-bit values.
void dequantize_4bit_into(const Quantized4bit& q, at::ScalarType out_dtype, void* out);

// --- quant_state ---

struct QuantStateInfo {
  QuantType type = QuantType::kNf4;
  int64_t blocksize = 64;
  at::ScalarType dtype = at::kFloat;
  std::vector<int64_t> shape;
  bool nested = false;
  int64_t nested_blocksize = 0;
  double nested_offset = 0.0;
};

// "bitsandbytes__nf4" | "bitsandbytes__fp4": the suffix of the `weight.quant_state.*` key.
std::string quant_state_key_suffix(QuantType type);

// json.dumps({"quant_type", "blocksize", "dtype", "shape"[, "nested_blocksize",
// "nested_dtype", "nested_offset"]}) with Python's default separators.
std::string quant_state_json(const Quantized4bit& q);

// Parses and validates quant_state JSON; malformed or inconsistent -> ERR_CONFIG.
QuantStateInfo parse_quant_state(const std::string& json);

// Python's repr() of a float: shortest round-trip digits, "1.0", "1e-05", "1e+16".
std::string python_float_repr(double value);

}  // namespace lora
