// CUDA 4-bit (NF4/FP4) kernels: raw-pointer launchers, no ATen. Every pointer is
// device memory; every launcher only enqueues on `stream` and returns the launch
// status (cudaErrorInvalidValue for bad sizes or null pointers). The per-element
// math is native/core/nf4_codes.h, the same the CPU core uses, so results match
// the CPU path (native/core/quantize.cpp) bit for bit:
//   - quantize: codes and absmax exactly as the CPU (an all-zero block packs the
//     zero code, 0x77 for NF4, unlike bitsandbytes' CUDA kernel's 0x00);
//   - dequantize: code[q] * absmax in float32 (fp16 output rounded to nearest even);
//   - double-quant absmax: map[q] * nested_absmax + offset, two roundings, no FMA.
// The fused matvec accumulates in float32 in its own order (not bit-equal to a
// CPU matmul). Builds for sm_61 (CUDA 11.x) through sm_90; plain CUDA C++ only.
#pragma once

#include <cuda_runtime_api.h>

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

// quant_type: 0 = NF4, 1 = FP4 (lora::nf4::QuantType).
enum { LORA_QUANT_NF4 = 0, LORA_QUANT_FP4 = 1 };

// The block scales of a packed weight: float32 absmax, or with double quant the
// 8-bit codes plus nested absmax and offset (absmax = NULL).
typedef struct LoraNf4Absmax {
  const float* absmax;          // float32 [blocks], or NULL with double quant
  const uint8_t* absmax_codes;  // uint8 [blocks] (double quant), else NULL
  const float* nested_absmax;   // float32 [ceil(blocks / nested_blocksize)] (double quant)
  float offset;                 // double quant: mean of the float32 absmax
  int nested_blocksize;         // double quant: 256
} LoraNf4Absmax;

// out[i] = code[q_i] * absmax[i / blocksize], i < n. packed: ceil(n/2) bytes.
cudaError_t lora_nf4_dequantize_f32(const uint8_t* packed, LoraNf4Absmax absmax, int quant_type, int64_t n,
                                    int blocksize, float* out, cudaStream_t stream);
// The same rounded to float16 (out holds IEEE half bits).
cudaError_t lora_nf4_dequantize_f16(const uint8_t* packed, LoraNf4Absmax absmax, int quant_type, int64_t n,
                                    int blocksize, uint16_t* out, cudaStream_t stream);

// packed: ceil(n/2) bytes; absmax: float32 [ceil(n / blocksize)] (a tail block stores max(absmax, 1e-38)).
// Weights must be finite (check beforehand; NaN/Inf give unspecified codes).
cudaError_t lora_nf4_quantize(const float* weights, int64_t n, int blocksize, int quant_type, uint8_t* packed,
                              float* absmax, cudaStream_t stream);

// Double quant of a float32 absmax [blocks] given its offset (torch's float32 mean
// of absmax: compute it as the CPU does, e.g. at::mean on the CPU copy, for bit-exact
// results): codes[b] = 8-bit dynamic code of (absmax[b] - offset) in blocks of
// nested_blocksize, nested_absmax [ceil(blocks / nested_blocksize)].
cudaError_t lora_nf4_quantize_absmax_8bit(const float* absmax, int64_t blocks, float offset, int nested_blocksize,
                                          uint8_t* codes, float* nested_absmax, cudaStream_t stream);

// Fused dequantize-and-multiply for small batches: y[m, j] = sum_k x[m, k] * W[j, k]
// (y = x · Wᵀ) with x float32 [m, k] (1 <= m <= 8), W packed 4-bit of shape [n, k]
// (row-major, blocks along the flattened index), y float32 [m, n]. W is never
// materialized.
cudaError_t lora_nf4_gemv_f32(const float* x, int m, int k, const uint8_t* packed, LoraNf4Absmax absmax,
                              int quant_type, int n, int blocksize, float* y, cudaStream_t stream);

#ifdef __cplusplus
}
#endif
