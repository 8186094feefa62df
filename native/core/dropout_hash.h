// Counter-based dropout masks: element i of one dropout call is kept when a
// hash of (the call's 64-bit key, i) is at or above a threshold. The key is
// drawn once per call from the model's generator, so the masks are a pure
// function of (seed, call order, index): independent of thread count and
// chunking, regenerated in backward instead of stored, and the generator's
// state alone is enough to resume a run exactly.
// Hash: two rounds of Wellons' lowbias32 mixer with the key's halves injected
// (32-bit multiplies only, so the loops vectorize with AVX2/AVX-512).
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

// The loops below are compiled for AVX-512 (x86-64-v4: with BW/DQ/VL, which the
// 16-bit bf16 lanes need), AVX2 and baseline; the loader picks what the CPU has.
#if defined(__x86_64__) && defined(__GNUC__)
#define LORA_TRAIN_CLONES __attribute__((target_clones("arch=x86-64-v4", "avx2", "default")))
#else
#define LORA_TRAIN_CLONES  // other architectures: one build for the compiler's target
#endif

namespace lora::dropout_hash {

inline uint32_t lowbias32(uint32_t x) {
  x ^= x >> 16;
  x *= 0x7feb352dU;
  x ^= x >> 15;
  x *= 0x846ca68bU;
  x ^= x >> 16;
  return x;
}

// A uniform 32-bit value for element `i` of the call keyed by `key`.
inline uint32_t bits(uint64_t key, uint64_t i) {
  const uint32_t k0 = static_cast<uint32_t>(key), k1 = static_cast<uint32_t>(key >> 32);
  return lowbias32(lowbias32(static_cast<uint32_t>(i) ^ k0) ^ k1 ^ static_cast<uint32_t>(i >> 32));
}

// Elements with bits < threshold are dropped: P(drop) = threshold / 2^32, p to within 2^-32.
inline uint32_t drop_threshold(double p) {
  const double t = std::floor(p * 4294967296.0 + 0.5);
  return t >= 4294967295.0 ? 0xffffffffU : static_cast<uint32_t>(t);
}

// The dropout multiplier of element i: scale when kept, 0 when dropped. Multiplying
// by it (rather than selecting 0) keeps the loops branch-free, and NaN/inf
// inputs behave as under torch's x · mask / (1 − p).
inline float factor(uint64_t key, uint64_t i, uint32_t threshold, float scale) {
  return bits(key, i) >= threshold ? scale : 0.f;
}

inline float bf16_to_float(uint16_t b) {
  const uint32_t u = static_cast<uint32_t>(b) << 16;
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

// Round to nearest even, as c10::BFloat16; NaN stays NaN.
inline uint16_t float_to_bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  const uint32_t rounded = (u + 0x7fffU + ((u >> 16) & 1U)) >> 16;
  return f != f ? static_cast<uint16_t>(0x7fc0) : static_cast<uint16_t>(rounded);
}

}  // namespace lora::dropout_hash
