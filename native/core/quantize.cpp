// Blockwise 4-bit quantization: see quantize.h and test/fixtures/GOLDEN.md ("NF4").
#include "core/quantize.h"

#include <ATen/Parallel.h>
#include <c10/util/BFloat16.h>
#include <c10/util/Half.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#endif

#include "core/errors.h"
#include "core/text_format.h"

namespace lora {

namespace {

// Blocks per parallel task: about 32K elements, so small tensors stay on one thread.
// Note: with libtorch's OpenMP backend, at::parallel_for is an inline template whose
// `#pragma omp parallel` only takes effect when this file is compiled with -fopenmp;
// without it the loops below run on the calling thread (same results).
int64_t grain_blocks(int64_t blocksize) { return std::max<int64_t>(1, 32768 / blocksize); }

int64_t numel_of(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

// --- 4-bit blockwise quantization ---

// One block of `len` values starting at an even element: codes into packed[start/2 ...].
// Full blocks scale by the reciprocal, the tail block divides (GOLDEN.md). Simple
// loops over a code buffer, so the compiler vectorizes them.
template <QuantType kType>
void quantize_block(const float* x, int64_t len, bool full, float absmax, uint8_t* packed) {
  uint8_t codes[4096 + 1];
  if (full) {
    const float r = nf4::full_block_reciprocal(absmax);
    for (int64_t i = 0; i < len; ++i) codes[i] = static_cast<uint8_t>(nf4::code_full(kType, x[i], r));
  } else {
    for (int64_t i = 0; i < len; ++i) codes[i] = static_cast<uint8_t>(nf4::code_tail(kType, x[i], absmax));
  }
  if (len & 1) codes[len] = static_cast<uint8_t>(nf4::quantize_scaled(kType, 0.0f));  // odd count: a 0.0 pad
  const int64_t bytes = (len + 1) / 2;
  for (int64_t j = 0; j < bytes; ++j) packed[j] = nf4::pack_pair(codes[2 * j], codes[2 * j + 1]);
}

// max |x| (finite x): the bit patterns of non-negative floats order as integers.
float block_absmax(const float* x, int64_t len) {
  int32_t m = 0;
  for (int64_t i = 0; i < len; ++i) {
    int32_t bits;
    std::memcpy(&bits, x + i, sizeof bits);
    bits &= 0x7fffffff;
    m = bits > m ? bits : m;
  }
  float out;
  std::memcpy(&out, &m, sizeof out);
  return out;
}

template <QuantType kType>
void quantize_4bit_blocks(const float* x, int64_t n, int64_t blocksize, uint8_t* packed, float* absmax) {
  const int64_t blocks = nf4::ceil_div(n, blocksize);
  at::parallel_for(0, blocks, grain_blocks(blocksize), [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      const int64_t start = b * blocksize;
      const int64_t len = std::min(blocksize, n - start);
      const float m = block_absmax(x + start, len);
      const bool full = len == blocksize;
      absmax[b] = full ? m : nf4::tail_divisor(m);  // the tail stores its clamped max
      quantize_block<kType>(x + start, len, full, m, packed + start / 2);
    }
  });
}

// --- 8-bit dynamic blockwise quantization (double quant of absmax) ---

void quantize_8bit_blocks(const float* x, int64_t n, int64_t blocksize, uint8_t* codes, float* absmax) {
  const int64_t blocks = nf4::ceil_div(n, blocksize);
  for (int64_t b = 0; b < blocks; ++b) {
    const int64_t start = b * blocksize;
    const int64_t len = std::min(blocksize, n - start);
    const float m = block_absmax(x + start, len);
    if (len == blocksize) {
      absmax[b] = m;
      const float r = nf4::full_block_reciprocal(m);
      for (int64_t i = 0; i < len; ++i)
        codes[start + i] = static_cast<uint8_t>(nf4::dynamic_quantize_scaled(nf4::kDynamicMap, nf4::scale_full(x[start + i], r)));
    } else {
      absmax[b] = nf4::tail_divisor(m);
      for (int64_t i = 0; i < len; ++i)
        codes[start + i] = static_cast<uint8_t>(nf4::dynamic_quantize_scaled(nf4::kDynamicMap, nf4::scale_tail(x[start + i], m)));
    }
  }
}

// --- dequantization ---
//
// out[i] = round(code[q_i] * absmax) with one float32 multiply per value. Each
// block first builds the 16 products of its absmax (its table, rounded to the
// output type), which are exactly the per-element products; the packed nibbles
// then index that table. Where the CPU has them (AVX-512 / AVX2, chosen at run
// time) the table is built and indexed with vector multiplies and permutes;
// else two scalar lookups per packed byte.

using DecodeF32 = void (*)(const uint8_t* packed, int64_t len, const float* table, float absmax, float* out);
using DecodeU16 = void (*)(const uint8_t* packed, int64_t len, const float* table, float absmax, uint16_t* out);

template <typename Out>
void lookup_scalar(const uint8_t* packed, int64_t len, const Out* lut, Out* out) {
  const int64_t pairs = len / 2;
  for (int64_t j = 0; j < pairs; ++j) {
    const unsigned byte = packed[j];
    out[2 * j] = lut[byte >> 4];
    out[2 * j + 1] = lut[byte & 15u];
  }
  if (len & 1) out[len - 1] = lut[packed[pairs] >> 4];
}

void decode_f32_scalar(const uint8_t* packed, int64_t len, const float* table, float a, float* out) {
  float lut[16];
  for (int k = 0; k < 16; ++k) lut[k] = nf4::decode(table, static_cast<unsigned>(k), a);
  lookup_scalar(packed, len, lut, out);
}

void decode_bf16_scalar(const uint8_t* packed, int64_t len, const float* table, float a, uint16_t* out) {
  uint16_t lut[16];
  for (int k = 0; k < 16; ++k) lut[k] = nf4::float_to_bf16_bits(nf4::decode(table, static_cast<unsigned>(k), a));
  lookup_scalar(packed, len, lut, out);
}

void decode_f16_scalar(const uint8_t* packed, int64_t len, const float* table, float a, uint16_t* out) {
  uint16_t lut[16];
  for (int k = 0; k < 16; ++k) lut[k] = c10::Half(nf4::decode(table, static_cast<unsigned>(k), a)).x;
  lookup_scalar(packed, len, lut, out);
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define LORA_QUANT_X86 1

// 16 packed bytes -> 32 nibble indices in element order (high nibble first).
__attribute__((target("avx2"))) inline __m256i nibble_indices(const uint8_t* p) {
  const __m128i bytes = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  const __m128i mask = _mm_set1_epi8(0x0f);
  const __m128i hi = _mm_and_si128(_mm_srli_epi16(bytes, 4), mask);
  const __m128i lo = _mm_and_si128(bytes, mask);
  return _mm256_setr_m128i(_mm_unpacklo_epi8(hi, lo), _mm_unpackhi_epi8(hi, lo));
}

// GCC 12's avx512fintrin.h trips -W(maybe-)uninitialized on its own _mm512_undefined_*() (a known false positive).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
__attribute__((target("avx512f,avx512bw"))) void decode_f32_avx512(const uint8_t* packed, int64_t len,
                                                                     const float* table, float a, float* out) {
  const __m512 lut = _mm512_mul_ps(_mm512_loadu_ps(table), _mm512_set1_ps(a));
  int64_t i = 0;
  for (; i + 32 <= len; i += 32) {  // 16 bytes -> 32 floats
    const __m256i idx = nibble_indices(packed + i / 2);
    _mm512_storeu_ps(out + i, _mm512_permutexvar_ps(_mm512_cvtepu8_epi32(_mm256_castsi256_si128(idx)), lut));
    _mm512_storeu_ps(out + i + 16, _mm512_permutexvar_ps(_mm512_cvtepu8_epi32(_mm256_extracti128_si256(idx, 1)), lut));
  }
  if (i < len) decode_f32_scalar(packed + i / 2, len - i, table, a, out + i);
}
// 16-bit outputs: the 16 table values as 16-bit words, indexed 32 at a time.
__attribute__((target("avx512f,avx512bw"))) void lookup_u16_avx512(const uint8_t* packed, int64_t len, __m256i values,
                                                                     uint16_t* out) {
  const __m512i lut = _mm512_castsi256_si512(values);
  int64_t i = 0;
  for (; i + 32 <= len; i += 32)
    _mm512_storeu_si512(out + i, _mm512_permutexvar_epi16(_mm512_cvtepu8_epi16(nibble_indices(packed + i / 2)), lut));
  if (i < len) {
    alignas(32) uint16_t table[16];
    _mm256_store_si256(reinterpret_cast<__m256i*>(table), values);
    lookup_scalar(packed + i / 2, len - i, table, out + i);
  }
}

__attribute__((target("avx512f,avx512bw"))) void decode_bf16_avx512(const uint8_t* packed, int64_t len,
                                                                      const float* table, float a, uint16_t* out) {
  const __m512i u = _mm512_castps_si512(_mm512_mul_ps(_mm512_loadu_ps(table), _mm512_set1_ps(a)));
  const __m512i odd = _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1));
  const __m512i rounded = _mm512_srli_epi32(_mm512_add_epi32(_mm512_add_epi32(u, _mm512_set1_epi32(0x7fff)), odd), 16);
  lookup_u16_avx512(packed, len, _mm512_cvtepi32_epi16(rounded), out);
}

__attribute__((target("avx512f,avx512bw"))) void decode_f16_avx512(const uint8_t* packed, int64_t len,
                                                                     const float* table, float a, uint16_t* out) {
  const __m512 v = _mm512_mul_ps(_mm512_loadu_ps(table), _mm512_set1_ps(a));
  lookup_u16_avx512(packed, len, _mm512_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT), out);
}
#pragma GCC diagnostic pop

__attribute__((target("avx2"))) inline __m256 lookup8(__m256 lo, __m256 hi, __m128i idx8) {
  const __m256i idx = _mm256_cvtepu8_epi32(idx8);
  const __m256 select_hi = _mm256_castsi256_ps(_mm256_slli_epi32(idx, 28));  // bit 3 -> sign bit
  return _mm256_blendv_ps(_mm256_permutevar8x32_ps(lo, idx), _mm256_permutevar8x32_ps(hi, idx), select_hi);
}

__attribute__((target("avx2"))) void decode_f32_avx2(const uint8_t* packed, int64_t len, const float* table, float a,
                                                     float* out) {
  const __m256 scale = _mm256_set1_ps(a);
  const __m256 lo = _mm256_mul_ps(_mm256_loadu_ps(table), scale), hi = _mm256_mul_ps(_mm256_loadu_ps(table + 8), scale);
  int64_t i = 0;
  for (; i + 32 <= len; i += 32) {
    const __m256i idx = nibble_indices(packed + i / 2);
    const __m128i first = _mm256_castsi256_si128(idx), second = _mm256_extracti128_si256(idx, 1);
    _mm256_storeu_ps(out + i, lookup8(lo, hi, first));
    _mm256_storeu_ps(out + i + 8, lookup8(lo, hi, _mm_srli_si128(first, 8)));
    _mm256_storeu_ps(out + i + 16, lookup8(lo, hi, second));
    _mm256_storeu_ps(out + i + 24, lookup8(lo, hi, _mm_srli_si128(second, 8)));
  }
  if (i < len) decode_f32_scalar(packed + i / 2, len - i, table, a, out + i);
}

// 16-bit outputs: a table of 16 values (in one register, element order) splits into
// its low and high bytes, two 16-entry pshufb tables.
__attribute__((target("avx2"))) void lookup_u16_avx2(const uint8_t* packed, int64_t len, __m256i values, uint16_t* out) {
  const __m256i split = _mm256_setr_epi8(0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15,  //
                                         0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15);
  // qwords: low bytes 0-7, low 8-15, high 0-7, high 8-15
  const __m256i bytes = _mm256_permute4x64_epi64(_mm256_shuffle_epi8(values, split), 0xd8);
  const __m256i tlo = _mm256_permute2x128_si256(bytes, bytes, 0x00), thi = _mm256_permute2x128_si256(bytes, bytes, 0x11);
  int64_t i = 0;
  for (; i + 32 <= len; i += 32) {
    const __m256i idx = nibble_indices(packed + i / 2);  // lane 0: elements 0..15, lane 1: 16..31
    const __m256i l = _mm256_shuffle_epi8(tlo, idx), h = _mm256_shuffle_epi8(thi, idx);
    const __m256i first = _mm256_unpacklo_epi8(l, h), second = _mm256_unpackhi_epi8(l, h);  // per lane: 0..7, 8..15
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + i), _mm256_permute2x128_si256(first, second, 0x20));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + i + 16), _mm256_permute2x128_si256(first, second, 0x31));
  }
  if (i < len) {
    alignas(32) uint16_t lut[16];
    _mm256_store_si256(reinterpret_cast<__m256i*>(lut), values);
    lookup_scalar(packed + i / 2, len - i, lut, out + i);
  }
}

// bfloat16: round to nearest even on the float32 bits (the products are finite).
__attribute__((target("avx2"))) inline __m256i bf16_rne(__m256 v) {
  const __m256i u = _mm256_castps_si256(v);
  const __m256i odd = _mm256_and_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(1));
  return _mm256_srli_epi32(_mm256_add_epi32(_mm256_add_epi32(u, _mm256_set1_epi32(0x7fff)), odd), 16);
}

__attribute__((target("avx2"))) void decode_bf16_avx2(const uint8_t* packed, int64_t len, const float* table, float a,
                                                      uint16_t* out) {
  const __m256 scale = _mm256_set1_ps(a);
  const __m256i lo = bf16_rne(_mm256_mul_ps(_mm256_loadu_ps(table), scale));
  const __m256i hi = bf16_rne(_mm256_mul_ps(_mm256_loadu_ps(table + 8), scale));
  lookup_u16_avx2(packed, len, _mm256_permute4x64_epi64(_mm256_packus_epi32(lo, hi), 0xd8), out);
}

__attribute__((target("avx2,f16c"))) void decode_f16_avx2(const uint8_t* packed, int64_t len, const float* table,
                                                           float a, uint16_t* out) {
  const __m256 scale = _mm256_set1_ps(a);
  const __m128i lo = _mm256_cvtps_ph(_mm256_mul_ps(_mm256_loadu_ps(table), scale), _MM_FROUND_TO_NEAREST_INT);
  const __m128i hi = _mm256_cvtps_ph(_mm256_mul_ps(_mm256_loadu_ps(table + 8), scale), _MM_FROUND_TO_NEAREST_INT);
  lookup_u16_avx2(packed, len, _mm256_setr_m128i(lo, hi), out);
}
#endif

// LORA_NODE_SIMD=scalar|avx2 caps the instruction set (the tests compare every path).
int simd_cap() {
  const char* v = std::getenv("LORA_NODE_SIMD");
  if (v && std::strcmp(v, "scalar") == 0) return 0;
  if (v && std::strcmp(v, "avx2") == 0) return 1;
  return 2;
}

DecodeF32 pick_f32() {
#ifdef LORA_QUANT_X86
  const int cap = simd_cap();
  if (cap >= 2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw")) return decode_f32_avx512;
  if (cap >= 1 && __builtin_cpu_supports("avx2")) return decode_f32_avx2;
#endif
  return decode_f32_scalar;
}

DecodeU16 pick_u16(at::ScalarType dtype) {
  const bool bf16 = dtype == at::kBFloat16;
#ifdef LORA_QUANT_X86
  const int cap = simd_cap();
  if (cap >= 2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw"))
    return bf16 ? decode_bf16_avx512 : decode_f16_avx512;
  if (cap >= 1 && __builtin_cpu_supports("avx2") && (bf16 || __builtin_cpu_supports("f16c")))
    return bf16 ? decode_bf16_avx2 : decode_f16_avx2;
#endif
  return bf16 ? decode_bf16_scalar : decode_f16_scalar;
}

// The block scales: float32 absmax, or double quant decoded per block as it is used.
struct BlockScales {
  const float* absmax = nullptr;
  const uint8_t* codes = nullptr;
  const float* nested = nullptr;
  int64_t nested_blocksize = 1;
  float offset = 0.0f;

  float operator[](int64_t b) const {
    return absmax ? absmax[b] : nf4::dequantize_absmax(nf4::kDynamicMap, codes[b], nested[b / nested_blocksize], offset);
  }
};

template <typename Out, typename Decode>
void dequantize_blocks(const uint8_t* packed, const BlockScales& scales, const float* table, int64_t n,
                       int64_t blocksize, Out* out, Decode decode) {
  const int64_t blocks = nf4::ceil_div(n, blocksize);
  at::parallel_for(0, blocks, grain_blocks(blocksize), [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      const int64_t start = b * blocksize;
      decode(packed + start / 2, std::min(blocksize, n - start), table, scales[b], out + start);
    }
  });
}

void check_tensor(const at::Tensor& t, at::ScalarType dtype, int64_t count, const std::string& name) {
  if (!t.defined()) fail(code::kInvalidArgument, "Expected a tensor for " + name + " but received none");
  if (t.scalar_type() != dtype || t.numel() != count)
    fail(code::kInvalidArgument, "Expected " + std::string(c10::toString(dtype)) + " " + name + " of " +
                                     std::to_string(count) + " elements but received " + c10::toString(t.scalar_type()) +
                                     " of " + std::to_string(t.numel()));
}

void check_finite(const at::Tensor& t, const std::string& name) {
  const at::Tensor c = t.contiguous();
  const int64_t bad = first_non_finite(c.data_ptr<float>(), c.numel());
  if (bad >= 0)
    fail(code::kInvalidArgument, "Expected finite values for " + name + " but received " +
                                     std::to_string(c.data_ptr<float>()[bad]) + " at index " + std::to_string(bad));
}

at::Tensor cpu_contiguous(const at::Tensor& t) { return t.device().is_cpu() ? t.contiguous() : t.to(at::kCPU).contiguous(); }

}  // namespace

int64_t Quantized4bit::numel() const { return numel_of(shape); }

const char* quant_type_name(QuantType type) { return type == QuantType::kFp4 ? "fp4" : "nf4"; }

QuantType parse_quant_type(const std::string& text, const std::string& name) {
  if (text == "nf4") return QuantType::kNf4;
  if (text == "fp4") return QuantType::kFp4;
  fail(code::kInvalidArgument, "Expected 'nf4' or 'fp4' for " + name + " but received the string \"" + text + "\"");
}

const char* dtype_name(at::ScalarType dtype) {
  switch (dtype) {
    case at::kFloat: return "float32";
    case at::kBFloat16: return "bfloat16";
    case at::kHalf: return "float16";
    default: fail(code::kInvalidArgument, std::string("4-bit weights must be float32, bfloat16 or float16, not ") + c10::toString(dtype));
  }
}

at::ScalarType parse_dtype_name(const std::string& text, const std::string& name) {
  if (text == "float32") return at::kFloat;
  if (text == "bfloat16") return at::kBFloat16;
  if (text == "float16") return at::kHalf;
  fail(code::kInvalidArgument,
       "Expected 'float32', 'bfloat16' or 'float16' for " + name + " but received the string \"" + text + "\"");
}

void check_blocksize(int64_t blocksize, const std::string& name) {
  if (!nf4::valid_blocksize(blocksize))
    fail(code::kInvalidArgument, "Expected a block size of 32, 64, 128, 256, 512, 1024, 2048 or 4096 for " + name +
                                     " but received number " + std::to_string(blocksize));
}

int64_t first_non_finite(const float* values, int64_t n) {
  std::atomic<int64_t> first{std::numeric_limits<int64_t>::max()};
  at::parallel_for(0, n, 65536, [&](int64_t i0, int64_t i1) {
    // A vectorizable pass first: a float is NaN or infinite when its exponent bits are all ones.
    uint32_t any = 0;
    for (int64_t i = i0; i < i1; ++i) {
      uint32_t u;
      std::memcpy(&u, values + i, sizeof u);
      any |= static_cast<uint32_t>((u & 0x7f800000u) == 0x7f800000u);
    }
    if (!any) return;
    for (int64_t i = i0; i < i1; ++i)
      if (!std::isfinite(values[i])) {
        int64_t seen = first.load();
        while (i < seen && !first.compare_exchange_weak(seen, i)) {
        }
        return;
      }
  });
  const int64_t f = first.load();
  return f == std::numeric_limits<int64_t>::max() ? -1 : f;
}

Quantized4bit quantize_4bit(const at::Tensor& weights, QuantType type, int64_t blocksize, bool double_quant) {
  check_blocksize(blocksize, "blocksize");
  Quantized4bit q;
  q.type = type;
  q.blocksize = blocksize;
  q.dtype = weights.scalar_type();
  dtype_name(q.dtype);  // float32 / bfloat16 / float16 only
  q.shape = weights.sizes().vec();
  const int64_t n = weights.numel();
  if (n < 1) fail(code::kInvalidArgument, "Expected at least one weight to quantize but received shape " + shape_text(q.shape));

  // Everything is float32 (bfloat16/float16 upcast exactly).
  const at::Tensor x = cpu_contiguous(weights).to(at::kFloat).contiguous();
  const float* data = x.data_ptr<float>();
  const int64_t bad = first_non_finite(data, n);
  if (bad >= 0)
    fail(code::kInvalidArgument, "Expected finite values for weights but received " + std::to_string(data[bad]) +
                                     " at index " + std::to_string(bad));

  const int64_t blocks = nf4::ceil_div(n, blocksize);
  q.packed = at::empty({(n + 1) / 2, 1}, at::kByte);
  at::Tensor absmax = at::empty({blocks}, at::kFloat);
  if (type == QuantType::kFp4)
    quantize_4bit_blocks<QuantType::kFp4>(data, n, blocksize, q.packed.data_ptr<uint8_t>(), absmax.data_ptr<float>());
  else
    quantize_4bit_blocks<QuantType::kNf4>(data, n, blocksize, q.packed.data_ptr<uint8_t>(), absmax.data_ptr<float>());

  if (!double_quant) {
    q.absmax = absmax;
    return q;
  }
  // Double quant: offset = torch's float32 mean (its summation order matters for
  // bit-exact nested_absmax), then absmax - offset in 8 bits, blocks of 256.
  const at::Tensor offset = at::mean(absmax);
  q.offset = offset.item<float>();
  const at::Tensor centered = (absmax - offset).contiguous();
  q.nested_blocksize = kNestedBlocksize;
  q.absmax = at::empty({blocks}, at::kByte);
  q.nested_absmax = at::empty({nf4::ceil_div(blocks, q.nested_blocksize)}, at::kFloat);
  quantize_8bit_blocks(centered.data_ptr<float>(), blocks, q.nested_blocksize, q.absmax.data_ptr<uint8_t>(),
                       q.nested_absmax.data_ptr<float>());
  return q;
}

void check_quantized(const Quantized4bit& q) {
  check_blocksize(q.blocksize, "blocksize");
  dtype_name(q.dtype);
  for (int64_t d : q.shape)
    if (d < 0) fail(code::kInvalidArgument, "Expected non-negative dimensions for shape but received " + shape_text(q.shape));
  const int64_t n = q.numel();
  if (n < 1) fail(code::kInvalidArgument, "Expected at least one element for shape but received " + shape_text(q.shape));
  const int64_t blocks = q.blocks();
  check_tensor(q.packed, at::kByte, (n + 1) / 2, "packed");
  if (q.double_quant()) {
    check_blocksize(q.nested_blocksize, "nested_blocksize");
    check_tensor(q.absmax, at::kByte, blocks, "absmax");
    check_tensor(q.nested_absmax, at::kFloat, nf4::ceil_div(blocks, q.nested_blocksize), "nested_absmax");
    check_finite(q.nested_absmax, "nested_absmax");
    if (!std::isfinite(q.offset))
      fail(code::kInvalidArgument, "Expected a finite number for offset but received " + std::to_string(q.offset));
  } else {
    check_tensor(q.absmax, at::kFloat, blocks, "absmax");
    check_finite(q.absmax, "absmax");
  }
}

at::Tensor dequantize_absmax(const Quantized4bit& q) {
  check_quantized(q);
  if (!q.double_quant()) return cpu_contiguous(q.absmax);
  const at::Tensor codes = cpu_contiguous(q.absmax);
  const at::Tensor nested = cpu_contiguous(q.nested_absmax);
  const int64_t blocks = codes.numel();
  at::Tensor out = at::empty({blocks}, at::kFloat);
  const uint8_t* c = codes.data_ptr<uint8_t>();
  const float* s = nested.data_ptr<float>();
  float* o = out.data_ptr<float>();
  for (int64_t b = 0; b < blocks; ++b) o[b] = nf4::dequantize_absmax(nf4::kDynamicMap, c[b], s[b / q.nested_blocksize], q.offset);
  return out;
}

void dequantize_4bit_into(const Quantized4bit& q, at::ScalarType out_dtype, void* out) {
  check_quantized(q);
  const at::Tensor packed = cpu_contiguous(q.packed);
  const at::Tensor absmax = cpu_contiguous(q.absmax);
  const at::Tensor nested = q.double_quant() ? cpu_contiguous(q.nested_absmax) : at::Tensor();
  BlockScales a;
  if (q.double_quant()) {
    a.codes = absmax.data_ptr<uint8_t>();
    a.nested = nested.data_ptr<float>();
    a.nested_blocksize = q.nested_blocksize;
    a.offset = q.offset;
  } else {
    a.absmax = absmax.data_ptr<float>();
  }
  const uint8_t* p = packed.data_ptr<uint8_t>();
  const float* table = nf4::code_table(q.type);
  const int64_t n = q.numel();
  switch (out_dtype) {
    case at::kFloat:
      dequantize_blocks(p, a, table, n, q.blocksize, static_cast<float*>(out), pick_f32());
      break;
    case at::kBFloat16:
    case at::kHalf:
      dequantize_blocks(p, a, table, n, q.blocksize, static_cast<uint16_t*>(out), pick_u16(out_dtype));
      break;
    default:
      fail(code::kInvalidArgument, std::string("Expected float32, bfloat16 or float16 for the output dtype but received ") +
                                       c10::toString(out_dtype));
  }
}

at::Tensor dequantize_4bit(const Quantized4bit& q, at::ScalarType out_dtype) {
  dtype_name(out_dtype);
  at::Tensor out = at::empty(q.shape, out_dtype);
  dequantize_4bit_into(q, out_dtype, out.data_ptr());
  return out;
}

// --- quant_state JSON ---

std::string quant_state_key_suffix(QuantType type) { return std::string("bitsandbytes__") + quant_type_name(type); }

std::string python_float_repr(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "Infinity" : "-Infinity";
  if (value == 0.0) return std::signbit(value) ? "-0.0" : "0.0";
  char buf[64];
  const auto result = std::to_chars(buf, buf + sizeof buf, value, std::chars_format::scientific);
  const std::string sci(buf, result.ptr);  // e.g. "-3.788003623485565e-01"
  const size_t e = sci.find('e');
  std::string mantissa = sci.substr(0, e);
  const int exponent = std::stoi(sci.substr(e + 1));
  std::string sign;
  if (mantissa[0] == '-') {
    sign = "-";
    mantissa.erase(0, 1);
  }
  std::string digits;
  for (char c : mantissa)
    if (c != '.') digits += c;
  const int decpt = exponent + 1;  // value = 0.DIGITS * 10^decpt
  std::string out;
  if (decpt <= -4 || decpt > 16) {  // Python's repr switches to exponent notation here
    out = digits.substr(0, 1);
    if (digits.size() > 1) out += "." + digits.substr(1);
    const int x = decpt - 1;
    std::string xs = std::to_string(std::abs(x));
    if (xs.size() < 2) xs = "0" + xs;
    out += std::string("e") + (x < 0 ? "-" : "+") + xs;
  } else if (decpt <= 0) {
    out = "0." + std::string(static_cast<size_t>(-decpt), '0') + digits;
  } else if (static_cast<size_t>(decpt) >= digits.size()) {
    out = digits + std::string(static_cast<size_t>(decpt) - digits.size(), '0') + ".0";
  } else {
    out = digits.substr(0, decpt) + "." + digits.substr(decpt);
  }
  return sign + out;
}

std::string quant_state_json(const Quantized4bit& q) {
  std::string s = "{\"quant_type\": \"" + std::string(quant_type_name(q.type)) + "\", \"blocksize\": " +
                  std::to_string(q.blocksize) + ", \"dtype\": \"" + dtype_name(q.dtype) + "\", \"shape\": " + shape_text(q.shape);
  if (q.double_quant())
    s += ", \"nested_blocksize\": " + std::to_string(q.nested_blocksize) +
         ", \"nested_dtype\": \"float32\", \"nested_offset\": " + python_float_repr(static_cast<double>(q.offset));
  return s + "}";
}

namespace {

[[noreturn]] void bad_state(const std::string& message) { fail(code::kConfig, "Invalid quant_state: " + message); }

std::string describe_json(const nlohmann::json& v) {
  if (v.is_null()) return "null";
  if (v.is_string()) return "the string " + v.dump();
  if (v.is_boolean()) return "boolean " + v.dump();
  if (v.is_number()) return "number " + v.dump();
  if (v.is_array()) return "an array of length " + std::to_string(v.size());
  return "an object";
}

[[noreturn]] void expected_field(const std::string& what, const std::string& key, const nlohmann::json& v) {
  bad_state("expected " + what + " for \"" + key + "\" but found " + describe_json(v));
}

const nlohmann::json& field(const nlohmann::json& j, const std::string& key) {
  const auto it = j.find(key);
  if (it == j.end()) bad_state("missing \"" + key + "\"");
  return *it;
}

int64_t integer_field(const nlohmann::json& j, const std::string& key) {
  const nlohmann::json& v = field(j, key);
  if (!v.is_number_integer()) expected_field("an integer", key, v);
  return v.get<int64_t>();
}

std::string string_field(const nlohmann::json& j, const std::string& key) {
  const nlohmann::json& v = field(j, key);
  if (!v.is_string()) expected_field("a string", key, v);
  return v.get<std::string>();
}

}  // namespace

QuantStateInfo parse_quant_state(const std::string& text) {
  const nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) bad_state("not valid JSON: " + (text.size() > 60 ? text.substr(0, 60) + "..." : text));
  if (!j.is_object()) bad_state("expected a JSON object but found " + describe_json(j));
  QuantStateInfo info;

  const std::string type = string_field(j, "quant_type");
  if (type == "nf4")
    info.type = QuantType::kNf4;
  else if (type == "fp4")
    info.type = QuantType::kFp4;
  else
    expected_field("\"nf4\" or \"fp4\"", "quant_type", j["quant_type"]);

  info.blocksize = integer_field(j, "blocksize");
  if (!nf4::valid_blocksize(info.blocksize)) expected_field("a power of two from 32 to 4096", "blocksize", j["blocksize"]);

  const std::string dtype = string_field(j, "dtype");
  if (dtype == "float32")
    info.dtype = at::kFloat;
  else if (dtype == "bfloat16")
    info.dtype = at::kBFloat16;
  else if (dtype == "float16")
    info.dtype = at::kHalf;
  else
    expected_field("\"float32\", \"bfloat16\" or \"float16\"", "dtype", j["dtype"]);

  const nlohmann::json shape = field(j, "shape");  // a copy: GCC 14 flags a reference tied to the temporary key
  if (!shape.is_array()) expected_field("an array of non-negative integers", "shape", shape);
  for (const nlohmann::json& d : shape) {
    if (!d.is_number_integer() || d.get<int64_t>() < 0) expected_field("an array of non-negative integers", "shape", shape);
    info.shape.push_back(d.get<int64_t>());
  }

  const bool has_blocksize = j.contains("nested_blocksize"), has_dtype = j.contains("nested_dtype"),
             has_offset = j.contains("nested_offset");
  if (has_blocksize || has_dtype || has_offset) {
    if (!(has_blocksize && has_dtype && has_offset))
      bad_state("double quantization needs \"nested_blocksize\", \"nested_dtype\" and \"nested_offset\" together");
    info.nested = true;
    info.nested_blocksize = integer_field(j, "nested_blocksize");
    if (!nf4::valid_blocksize(info.nested_blocksize))
      expected_field("a power of two from 32 to 4096", "nested_blocksize", j["nested_blocksize"]);
    if (string_field(j, "nested_dtype") != "float32") expected_field("\"float32\"", "nested_dtype", j["nested_dtype"]);
    const nlohmann::json& offset = j["nested_offset"];
    if (!offset.is_number() || !std::isfinite(offset.get<double>())) expected_field("a finite number", "nested_offset", offset);
    info.nested_offset = offset.get<double>();
  }
  return info;
}

}  // namespace lora
