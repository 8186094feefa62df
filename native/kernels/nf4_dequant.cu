// CUDA 4-bit kernels: see nf4_kernels.h. Plain CUDA C++ (no wmma, no bf16, no
// sm_70+ intrinsics): builds for sm_61 with CUDA 11.x and sm_75..sm_90 with nvcc 12/13.
// Per-element math comes from core/nf4_codes.h (shared with the CPU core).
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <stdint.h>

#include "core/nf4_codes.h"
#include "kernels/nf4_kernels.h"

namespace {

namespace nf4 = lora::nf4;

__constant__ float c_nf4_code[16] = {LORA_NF4_CODE_VALUES};
__constant__ float c_fp4_code[16] = {LORA_FP4_CODE_VALUES};
__constant__ float c_dynamic_map[256] = {LORA_DYNAMIC_MAP_VALUES};

constexpr int kThreads = 256;
constexpr int64_t kMaxGrid = 65535LL * 16;

// Code tables in shared memory (indexed by per-thread codes: constant memory
// would serialize divergent reads).
struct Tables {
  float code[16];
  float map[256];
};

__device__ void load_tables(Tables& t, int quant_type, bool with_map) {
  const float* code = quant_type == LORA_QUANT_FP4 ? c_fp4_code : c_nf4_code;
  for (int i = threadIdx.x; i < 16; i += blockDim.x) t.code[i] = code[i];
  if (with_map)
    for (int i = threadIdx.x; i < 256; i += blockDim.x) t.map[i] = c_dynamic_map[i];
  __syncthreads();
}

// Block sizes are powers of two: the block of element e is e >> shift.
__device__ __forceinline__ float block_absmax(const LoraNf4Absmax& a, const Tables& t, int64_t block, int nested_shift) {
  if (a.absmax) return a.absmax[block];
  return nf4::dequantize_absmax(t.map, a.absmax_codes[block], a.nested_absmax[block >> nested_shift], a.offset);
}

__device__ __forceinline__ void store(float* out, int64_t i, float v) { out[i] = v; }
__device__ __forceinline__ void store(uint16_t* out, int64_t i, float v) { out[i] = __half_as_ushort(__float2half_rn(v)); }

// Eight decoded values to 16-byte-aligned memory in 16-byte stores.
__device__ __forceinline__ void store8(float* out, const float (&v)[8]) {
  reinterpret_cast<float4*>(out)[0] = make_float4(v[0], v[1], v[2], v[3]);
  reinterpret_cast<float4*>(out)[1] = make_float4(v[4], v[5], v[6], v[7]);
}
__device__ __forceinline__ void store8(uint16_t* out, const float (&v)[8]) {
  unsigned w[4];
#pragma unroll
  for (int i = 0; i < 4; ++i)
    w[i] = static_cast<unsigned>(__half_as_ushort(__float2half_rn(v[2 * i]))) |
           (static_cast<unsigned>(__half_as_ushort(__float2half_rn(v[2 * i + 1]))) << 16);
  *reinterpret_cast<uint4*>(out) = make_uint4(w[0], w[1], w[2], w[3]);
}

// Each thread decodes 4 packed bytes = 8 elements, which always share one block
// (block sizes are multiples of 32). `vector`: packed is 4-byte and out 16-byte aligned.
template <typename Out>
__global__ void dequantize_kernel(const uint8_t* __restrict__ packed, LoraNf4Absmax absmax, int quant_type, int64_t n,
                                  int shift, int nested_shift, bool vector, Out* __restrict__ out) {
  __shared__ Tables t;
  load_tables(t, quant_type, absmax.absmax == nullptr);
  const int64_t groups = (n + 7) / 8;
  for (int64_t g = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; g < groups;
       g += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t first = g * 8;
    const float a = block_absmax(absmax, t, first >> shift, nested_shift);
    if (vector && first + 8 <= n) {
      const unsigned word = reinterpret_cast<const unsigned*>(packed)[g];  // bytes first/2 .. first/2 + 3
      float v[8];
#pragma unroll
      for (int b = 0; b < 4; ++b) {
        const unsigned byte = (word >> (8 * b)) & 0xffu;
        v[2 * b] = nf4::decode(t.code, byte >> 4, a);
        v[2 * b + 1] = nf4::decode(t.code, byte & 15u, a);
      }
      store8(out + first, v);
      continue;
    }
    const int64_t last = first + 8 < n ? first + 8 : n;
    for (int64_t i = first; i < last; i += 2) {
      const unsigned byte = packed[i >> 1];
      store(out, i, nf4::decode(t.code, byte >> 4, a));
      if (i + 1 < last) store(out, i + 1, nf4::decode(t.code, byte & 15u, a));
    }
  }
}

// One warp per quantization block; 8 warps per CTA.
__global__ void quantize_kernel(const float* __restrict__ x, int64_t n, int blocksize, int quant_type,
                                uint8_t* __restrict__ packed, float* __restrict__ absmax_out) {
  const int lane = threadIdx.x & 31;
  const int64_t blocks = (n + blocksize - 1) / blocksize;
  const nf4::QuantType type = quant_type == LORA_QUANT_FP4 ? nf4::QuantType::kFp4 : nf4::QuantType::kNf4;
  for (int64_t b = blockIdx.x * static_cast<int64_t>(blockDim.x / 32) + (threadIdx.x >> 5); b < blocks;
       b += static_cast<int64_t>(gridDim.x) * (blockDim.x / 32)) {
    const int64_t start = b * blocksize;
    const int64_t len = n - start < blocksize ? n - start : blocksize;
    float m = 0.0f;
    for (int64_t i = lane; i < len; i += 32) m = fmaxf(m, fabsf(x[start + i]));
    for (int offset = 16; offset > 0; offset >>= 1) m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, offset));
    const bool full = len == blocksize;
    if (lane == 0) absmax_out[b] = full ? m : nf4::tail_divisor(m);
    const float r = nf4::full_block_reciprocal(m);
    const int64_t pairs = (len + 1) / 2;
    for (int64_t j = lane; j < pairs; j += 32) {
      const int64_t i = start + 2 * j;
      const float x0 = x[i];
      const float x1 = i + 1 < n ? x[i + 1] : 0.0f;  // odd count: a 0.0 pad
      unsigned q0, q1;
      if (full) {
        q0 = nf4::code_full(type, x0, r);
        q1 = nf4::code_full(type, x1, r);
      } else {
        q0 = nf4::code_tail(type, x0, m);
        q1 = i + 1 < n ? nf4::code_tail(type, x1, m) : nf4::quantize_scaled(type, 0.0f);
      }
      packed[i >> 1] = nf4::pack_pair(q0, q1);
    }
  }
}

// One warp per nested block of absmax values.
__global__ void quantize_absmax_kernel(const float* __restrict__ absmax, int64_t blocks, float offset,
                                       int nested_blocksize, uint8_t* __restrict__ codes,
                                       float* __restrict__ nested_absmax) {
  __shared__ float map[256];
  for (int i = threadIdx.x; i < 256; i += blockDim.x) map[i] = c_dynamic_map[i];
  __syncthreads();
  const int lane = threadIdx.x & 31;
  const int64_t nested = (blocks + nested_blocksize - 1) / nested_blocksize;
  for (int64_t b = blockIdx.x * static_cast<int64_t>(blockDim.x / 32) + (threadIdx.x >> 5); b < nested;
       b += static_cast<int64_t>(gridDim.x) * (blockDim.x / 32)) {
    const int64_t start = b * nested_blocksize;
    const int64_t len = blocks - start < nested_blocksize ? blocks - start : nested_blocksize;
    float m = 0.0f;
    for (int64_t i = lane; i < len; i += 32) m = fmaxf(m, fabsf(__fsub_rn(absmax[start + i], offset)));
    for (int s = 16; s > 0; s >>= 1) m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, s));
    const bool full = len == nested_blocksize;
    if (lane == 0) nested_absmax[b] = full ? m : nf4::tail_divisor(m);
    const float r = nf4::full_block_reciprocal(m);
    for (int64_t i = lane; i < len; i += 32) {
      const float c = __fsub_rn(absmax[start + i], offset);
      const float s = full ? nf4::scale_full(c, r) : nf4::scale_tail(c, m);
      codes[start + i] = static_cast<uint8_t>(nf4::dynamic_quantize_scaled(map, s));
    }
  }
}

// One warp per output feature j: lanes walk k, decode W[j, k] once, and use it for every row of x.
constexpr int kMaxRows = 8;

__global__ void gemv_kernel(const float* __restrict__ x, int m, int k, const uint8_t* __restrict__ packed,
                            LoraNf4Absmax absmax, int quant_type, int n, int shift, int nested_shift,
                            float* __restrict__ y) {
  __shared__ Tables t;
  load_tables(t, quant_type, absmax.absmax == nullptr);
  const int lane = threadIdx.x & 31;
  for (int64_t j = blockIdx.x * static_cast<int64_t>(blockDim.x / 32) + (threadIdx.x >> 5); j < n;
       j += static_cast<int64_t>(gridDim.x) * (blockDim.x / 32)) {
    float acc[kMaxRows];
#pragma unroll
    for (int r = 0; r < kMaxRows; ++r) acc[r] = 0.0f;
    int64_t cached_block = -1;
    float a = 0.0f;
    for (int kk = lane; kk < k; kk += 32) {
      const int64_t e = j * static_cast<int64_t>(k) + kk;
      const int64_t block = e >> shift;
      if (block != cached_block) {
        a = block_absmax(absmax, t, block, nested_shift);
        cached_block = block;
      }
      const float w = nf4::decode(t.code, nf4::nibble(packed, e), a);
#pragma unroll
      for (int r = 0; r < kMaxRows; ++r)
        if (r < m) acc[r] = fmaf(x[static_cast<int64_t>(r) * k + kk], w, acc[r]);
    }
#pragma unroll
    for (int r = 0; r < kMaxRows; ++r) {
      if (r >= m) break;
      float v = acc[r];
      for (int s = 16; s > 0; s >>= 1) v += __shfl_xor_sync(0xffffffffu, v, s);
      if (lane == 0) y[static_cast<int64_t>(r) * n + j] = v;
    }
  }
}

int grid_for(int64_t work, int per_cta) {
  int64_t g = (work + per_cta - 1) / per_cta;
  if (g < 1) g = 1;
  if (g > kMaxGrid) g = kMaxGrid;
  return static_cast<int>(g);
}

int log2_of(int power_of_two) {
  int shift = 0;
  while ((1 << shift) < power_of_two) ++shift;
  return shift;
}

bool valid_quant_type(int t) { return t == LORA_QUANT_NF4 || t == LORA_QUANT_FP4; }

bool valid_absmax(const LoraNf4Absmax& a) {
  if (a.absmax) return true;
  return a.absmax_codes && a.nested_absmax && nf4::valid_blocksize(a.nested_blocksize);
}

template <typename Out>
cudaError_t launch_dequantize(const uint8_t* packed, LoraNf4Absmax absmax, int quant_type, int64_t n, int blocksize,
                              Out* out, cudaStream_t stream) {
  if (!packed || !out || n < 1 || !nf4::valid_blocksize(blocksize) || !valid_quant_type(quant_type) || !valid_absmax(absmax))
    return cudaErrorInvalidValue;
  const bool vector = reinterpret_cast<uintptr_t>(packed) % 4 == 0 && reinterpret_cast<uintptr_t>(out) % 16 == 0;
  const int nested_shift = absmax.absmax ? 0 : log2_of(absmax.nested_blocksize);
  dequantize_kernel<Out><<<grid_for((n + 7) / 8, kThreads), kThreads, 0, stream>>>(
      packed, absmax, quant_type, n, log2_of(blocksize), nested_shift, vector, out);
  return cudaGetLastError();
}

}  // namespace

extern "C" cudaError_t lora_nf4_dequantize_f32(const uint8_t* packed, LoraNf4Absmax absmax, int quant_type, int64_t n,
                                               int blocksize, float* out, cudaStream_t stream) {
  return launch_dequantize(packed, absmax, quant_type, n, blocksize, out, stream);
}

extern "C" cudaError_t lora_nf4_dequantize_f16(const uint8_t* packed, LoraNf4Absmax absmax, int quant_type, int64_t n,
                                               int blocksize, uint16_t* out, cudaStream_t stream) {
  return launch_dequantize(packed, absmax, quant_type, n, blocksize, out, stream);
}

extern "C" cudaError_t lora_nf4_quantize(const float* weights, int64_t n, int blocksize, int quant_type, uint8_t* packed,
                                         float* absmax, cudaStream_t stream) {
  if (!weights || !packed || !absmax || n < 1 || !nf4::valid_blocksize(blocksize) || !valid_quant_type(quant_type))
    return cudaErrorInvalidValue;
  const int64_t blocks = (n + blocksize - 1) / blocksize;
  quantize_kernel<<<grid_for(blocks, kThreads / 32), kThreads, 0, stream>>>(weights, n, blocksize, quant_type, packed,
                                                                           absmax);
  return cudaGetLastError();
}

extern "C" cudaError_t lora_nf4_quantize_absmax_8bit(const float* absmax, int64_t blocks, float offset,
                                                     int nested_blocksize, uint8_t* codes, float* nested_absmax,
                                                     cudaStream_t stream) {
  if (!absmax || !codes || !nested_absmax || blocks < 1 || !nf4::valid_blocksize(nested_blocksize))
    return cudaErrorInvalidValue;
  const int64_t nested = (blocks + nested_blocksize - 1) / nested_blocksize;
  quantize_absmax_kernel<<<grid_for(nested, kThreads / 32), kThreads, 0, stream>>>(absmax, blocks, offset,
                                                                                  nested_blocksize, codes, nested_absmax);
  return cudaGetLastError();
}

extern "C" cudaError_t lora_nf4_gemv_f32(const float* x, int m, int k, const uint8_t* packed, LoraNf4Absmax absmax,
                                         int quant_type, int n, int blocksize, float* y, cudaStream_t stream) {
  if (!x || !packed || !y || m < 1 || m > kMaxRows || k < 1 || n < 1 || !nf4::valid_blocksize(blocksize) ||
      !valid_quant_type(quant_type) || !valid_absmax(absmax))
    return cudaErrorInvalidValue;
  const int nested_shift = absmax.absmax ? 0 : log2_of(absmax.nested_blocksize);
  gemv_kernel<<<grid_for(n, kThreads / 32), kThreads, 0, stream>>>(x, m, k, packed, absmax, quant_type, n,
                                                                  log2_of(blocksize), nested_shift, y);
  return cudaGetLastError();
}
