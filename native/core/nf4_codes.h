// Per-element math of bitsandbytes' 4-bit (NF4/FP4) and 8-bit dynamic
// quantization, shared by the CPU core (native/core/quantize.cpp) and the CUDA
// kernels (native/kernels/nf4_dequant.cu). No ATen here: nvcc compiles it alone.
//
// Sources (read, not copied):
//   NF4 levels: bitsandbytes/functional.py get_4bit_type('nf4') and
//     bitsandbytes/backends/utils.py _NF4_QUANT_TABLE (float32 values below).
//   FP4 levels: get_4bit_type('fp4') = [0, 0.0625, 8, 12, 4, 6, 2, 3, -0, ...] / 12
//     in float32 (the Python int -0 is +0); csrc/kernels.cu dDequantizeFP4Tree
//     uses the same float32 values.
//   FP4 decision: csrc/kernels.cu dQuantizeFP4 (sign bit from x < 0, then |x|
//     against seven pivots with strict '>', so a tie goes to the smaller magnitude).
//   NF4 decision: bucketize on the float32 midpoints of adjacent levels (a tie
//     goes to the lower code); csrc/kernels.cu dQuantizeNF4's pivots are the
//     same floats. test/fixtures/GOLDEN.md "NF4" has the whole CPU algorithm.
//   Dynamic map: functional.py create_dynamic_map(signed=True) (256 levels,
//     equal to golden nf4.nested_quant_map bit for bit).
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#ifdef __CUDACC__
#define LORA_HD __host__ __device__
#else
#define LORA_HD
#endif

// C++14-compatible (nvcc 11 defaults to C++14): no inline variables, no nested namespace definitions.
namespace lora {
namespace nf4 {

enum class QuantType : int { kNf4 = 0, kFp4 = 1 };

// The tables as macros, so the .cu can place the same values in __constant__
// memory (host arrays are not visible to device code).
#define LORA_NF4_CODE_VALUES                                                                       \
  -1.0f, -0.696192801f, -0.525073051f, -0.394917488f, -0.284441382f, -0.18477343f, -0.0910500363f, \
      0.0f, 0.0795802996f, 0.160930201f, 0.246112302f, 0.337915242f, 0.440709829f, 0.562617004f,    \
      0.722956836f, 1.0f

#define LORA_FP4_CODE_VALUES                                                                       \
  0.0f, 0.00520833349f, 0.666666687f, 1.0f, 0.333333343f, 0.5f, 0.166666672f, 0.25f, 0.0f,          \
      -0.00520833349f, -0.666666687f, -1.0f, -0.333333343f, -0.5f, -0.166666672f, -0.25f

#define LORA_DYNAMIC_MAP_VALUES \
    -0.992968738f, -0.978906214f, -0.96484375f, -0.950781226f, \
    -0.936718702f, -0.922656238f, -0.908593774f, -0.89453125f, \
    -0.880468726f, -0.866406202f, -0.852343738f, -0.838281214f, \
    -0.82421875f, -0.810156226f, -0.796093702f, -0.782031238f, \
    -0.767968774f, -0.75390625f, -0.739843786f, -0.725781262f, \
    -0.711718798f, -0.697656274f, -0.68359375f, -0.669531286f, \
    -0.655468762f, -0.641406238f, -0.627343774f, -0.61328125f, \
    -0.599218726f, -0.585156262f, -0.571093798f, -0.557031274f, \
    -0.54296875f, -0.528906226f, -0.514843762f, -0.500781238f, \
    -0.486718774f, -0.47265625f, -0.458593726f, -0.444531262f, \
    -0.430468738f, -0.416406214f, -0.40234375f, -0.388281226f, \
    -0.374218762f, -0.360156238f, -0.346093714f, -0.33203125f, \
    -0.317968726f, -0.303906262f, -0.289843738f, -0.275781274f, \
    -0.26171875f, -0.247656256f, -0.233593762f, -0.219531253f, \
    -0.205468744f, -0.19140625f, -0.177343741f, -0.163281247f, \
    -0.149218753f, -0.135156244f, -0.12109375f, -0.107031256f, \
    -0.0985937491f, -0.0957812443f, -0.0929687545f, -0.0901562497f, \
    -0.0873437524f, -0.0845312476f, -0.0817187428f, -0.078906253f, \
    -0.0760937482f, -0.0732812509f, -0.0704687461f, -0.0676562563f, \
    -0.0648437515f, -0.0620312467f, -0.0592187531f, -0.0564062484f, \
    -0.053593751f, -0.05078125f, -0.047968749f, -0.0451562516f, \
    -0.0423437469f, -0.0395312496f, -0.0367187522f, -0.0339062475f, \
    -0.0310937501f, -0.0282812472f, -0.0254687499f, -0.0226562507f, \
    -0.0198437497f, -0.0170312505f, -0.0142187504f, -0.0114062503f, \
    -0.00971874967f, -0.00915624946f, -0.00859375019f, -0.00803124998f, \
    -0.00746874977f, -0.00690625003f, -0.00634374982f, -0.00578125007f, \
    -0.00521875033f, -0.00465624966f, -0.00409374991f, -0.00353124971f, \
    -0.00296874996f, -0.00240624999f, -0.00184375001f, -0.00128124992f, \
    -0.000943750085f, -0.000831249985f, -0.00071875006f, -0.000606250076f, \
    -0.000493750034f, -0.000381250022f, -0.000268750038f, -0.000156250011f, \
    -8.87499991e-05f, -6.62500024e-05f, -4.37499984e-05f, -2.12499981e-05f, \
    -7.7499999e-06f, -3.25000019e-06f, -5.50000038e-07f, 0.0f, \
    5.50000038e-07f, 3.25000019e-06f, 7.7499999e-06f, 2.12499981e-05f, \
    4.37499984e-05f, 6.62500024e-05f, 8.87499991e-05f, 0.000156250011f, \
    0.000268750038f, 0.000381250022f, 0.000493750034f, 0.000606250076f, \
    0.00071875006f, 0.000831249985f, 0.000943750085f, 0.00128124992f, \
    0.00184375001f, 0.00240624999f, 0.00296874996f, 0.00353124971f, \
    0.00409374991f, 0.00465624966f, 0.00521875033f, 0.00578125007f, \
    0.00634374982f, 0.00690625003f, 0.00746874977f, 0.00803124998f, \
    0.00859375019f, 0.00915624946f, 0.00971874967f, 0.0114062503f, \
    0.0142187504f, 0.0170312505f, 0.0198437497f, 0.0226562507f, \
    0.0254687499f, 0.0282812472f, 0.0310937501f, 0.0339062475f, \
    0.0367187522f, 0.0395312496f, 0.0423437469f, 0.0451562516f, \
    0.047968749f, 0.05078125f, 0.053593751f, 0.0564062484f, \
    0.0592187531f, 0.0620312467f, 0.0648437515f, 0.0676562563f, \
    0.0704687461f, 0.0732812509f, 0.0760937482f, 0.078906253f, \
    0.0817187428f, 0.0845312476f, 0.0873437524f, 0.0901562497f, \
    0.0929687545f, 0.0957812443f, 0.0985937491f, 0.107031256f, \
    0.12109375f, 0.135156244f, 0.149218753f, 0.163281247f, \
    0.177343741f, 0.19140625f, 0.205468744f, 0.219531253f, \
    0.233593762f, 0.247656256f, 0.26171875f, 0.275781274f, \
    0.289843738f, 0.303906262f, 0.317968726f, 0.33203125f, \
    0.346093714f, 0.360156238f, 0.374218762f, 0.388281226f, \
    0.40234375f, 0.416406214f, 0.430468738f, 0.444531262f, \
    0.458593726f, 0.47265625f, 0.486718774f, 0.500781238f, \
    0.514843762f, 0.528906226f, 0.54296875f, 0.557031274f, \
    0.571093798f, 0.585156262f, 0.599218726f, 0.61328125f, \
    0.627343774f, 0.641406238f, 0.655468762f, 0.669531286f, \
    0.68359375f, 0.697656274f, 0.711718798f, 0.725781262f, \
    0.739843786f, 0.75390625f, 0.767968774f, 0.782031238f, \
    0.796093702f, 0.810156226f, 0.82421875f, 0.838281214f, \
    0.852343738f, 0.866406202f, 0.880468726f, 0.89453125f, \
    0.908593774f, 0.922656238f, 0.936718702f, 0.950781226f, \
    0.96484375f, 0.978906214f, 0.992968738f, 1.0f

static constexpr float kNf4Code[16] = {LORA_NF4_CODE_VALUES};
static constexpr float kFp4Code[16] = {LORA_FP4_CODE_VALUES};
static constexpr float kDynamicMap[256] = {LORA_DYNAMIC_MAP_VALUES};

constexpr const float* code_table(QuantType type) { return type == QuantType::kFp4 ? kFp4Code : kNf4Code; }

// Block scales are max(absmax, 1e-38) (a float32 subnormal, as torch's clamp gives it).
constexpr float kMinScale = 1e-38f;

LORA_HD inline float clamp_unit(float x) { return fminf(fmaxf(x, -1.0f), 1.0f); }

// Full block: x * (1 / max(absmax, 1e-38)), clamped. An all-zero block scales to 0
// directly (equal to torch's 0 * 1e38 and safe where denormals flush to zero).
LORA_HD inline float full_block_reciprocal(float absmax) { return absmax > 0.0f ? 1.0f / fmaxf(absmax, kMinScale) : 0.0f; }
LORA_HD inline float scale_full(float x, float reciprocal) { return clamp_unit(x * reciprocal); }

// Tail (partial) block: x / max(absmax, 1e-38), clamped; its stored absmax is that clamped max.
LORA_HD inline float tail_divisor(float absmax) { return fmaxf(absmax, kMinScale); }
LORA_HD inline float scale_tail(float x, float absmax) { return absmax > 0.0f ? clamp_unit(x / fmaxf(absmax, kMinScale)) : 0.0f * x; }

// NF4: number of level midpoints strictly below x (bucketize, ties to the lower code).
LORA_HD inline unsigned nf4_quantize_scaled(float x) {
  unsigned q = 0;
  q += x > -0.848096371f;
  q += x > -0.610632896f;
  q += x > -0.45999527f;
  q += x > -0.33967942f;
  q += x > -0.234607399f;
  q += x > -0.137911737f;
  q += x > -0.0455250181f;
  q += x > 0.0397901498f;
  q += x > 0.120255247f;
  q += x > 0.203521252f;
  q += x > 0.292013764f;
  q += x > 0.389312536f;
  q += x > 0.501663446f;
  q += x > 0.64278692f;
  q += x > 0.861478448f;
  return q;
}

// FP4: sign bit from x < 0; magnitude rank r = pivots exceeded (bitsandbytes'
// dQuantizeFP4 pivots, literally), ranks 0..7 -> codes 0,1,6,7,4,5,2,3.
LORA_HD inline unsigned fp4_quantize_scaled(float x) {
  const unsigned sign = x < 0.0f ? 8u : 0u;
  const float a = fabsf(x);
  unsigned r = 0;
  r += a > 0.00260417f;
  r += a > 0.0859375f;
  r += a > 0.20833333f;
  r += a > 0.29166667f;
  r += a > 0.4166667f;
  r += a > 0.583333f;
  r += a > 0.8333333f;
  return sign | (r ^ ((r & 2u) << 1));
}

LORA_HD inline unsigned quantize_scaled(QuantType type, float x) {
  return type == QuantType::kFp4 ? fp4_quantize_scaled(x) : nf4_quantize_scaled(x);
}

// The code of one element of a full / tail block. bitsandbytes clamps the scaled
// value to [-1, 1] first; that never changes a code (beyond ±1 every decision above
// already picks the end code, sign included), so these skip it, which keeps the CPU
// loops free of branches the compiler cannot vectorize.
LORA_HD inline unsigned code_full(QuantType type, float x, float reciprocal) { return quantize_scaled(type, x * reciprocal); }
LORA_HD inline unsigned code_tail(QuantType type, float x, float absmax) {
  return quantize_scaled(type, absmax > 0.0f ? x / fmaxf(absmax, kMinScale) : 0.0f * x);
}

// Packing: element 2i in the high nibble, element 2i+1 in the low nibble.
LORA_HD inline uint8_t pack_pair(unsigned even, unsigned odd) { return static_cast<uint8_t>((even << 4) | (odd & 15u)); }
LORA_HD inline unsigned nibble(const uint8_t* packed, int64_t i) {
  const unsigned byte = packed[i >> 1];
  return (i & 1) ? (byte & 15u) : (byte >> 4);
}

// Dequantized value: code[q] * absmax in float32 (one rounding, never fused into a later add).
LORA_HD inline float decode(const float* table, unsigned q, float absmax) {
#if defined(__CUDA_ARCH__)
  return __fmul_rn(table[q & 15u], absmax);
#else
  return table[q & 15u] * absmax;
#endif
}

// 8-bit dynamic quantization (double quant of absmax): bucketize on the float32
// midpoints of adjacent map levels, ties to the lower code. `map` is 256 increasing levels.
LORA_HD inline unsigned dynamic_quantize_scaled(const float* map, float x) {
  unsigned lo = 0, hi = 255;  // answer in [lo, hi]: the count of midpoints below x
  while (lo < hi) {
    const unsigned mid = (lo + hi) >> 1;
    const float midpoint = (map[mid] + map[mid + 1]) * 0.5f;
    if (x > midpoint)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

// a * b rounded, never fused with a following add (a fused multiply-add would
// round once and differ from torch's separate mul and add).
LORA_HD inline float mul_unfused(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fmul_rn(a, b);
#else
  float p = a * b;
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
  __asm__("" : "+x"(p));
#elif defined(__GNUC__) && defined(__aarch64__)
  __asm__("" : "+w"(p));
#endif
  return p;
#endif
}

LORA_HD inline float add_rn(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fadd_rn(a, b);
#else
  return a + b;
#endif
}

// Double-quant absmax: map[q] * nested_absmax + offset, two float32 roundings.
LORA_HD inline float dequantize_absmax(const float* map, unsigned q, float nested_absmax, float offset) {
  return add_rn(mul_unfused(map[q & 255u], nested_absmax), offset);
}

// float32 -> bfloat16 bits, round to nearest even (NaN stays a quiet NaN).
LORA_HD inline uint16_t float_to_bf16_bits(float f) {
  uint32_t u;
#if defined(__CUDA_ARCH__)
  u = __float_as_uint(f);
#else
  std::memcpy(&u, &f, sizeof u);
#endif
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40u);
  u += 0x7fffu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}

LORA_HD inline float bf16_bits_to_float(uint16_t b) {
  const uint32_t u = static_cast<uint32_t>(b) << 16;
#if defined(__CUDA_ARCH__)
  return __uint_as_float(u);
#else
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
#endif
}

// Supported block sizes: powers of two from 32 to 4096.
LORA_HD inline bool valid_blocksize(int64_t b) { return b >= 32 && b <= 4096 && (b & (b - 1)) == 0; }

LORA_HD inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

}  // namespace nf4
}  // namespace lora
