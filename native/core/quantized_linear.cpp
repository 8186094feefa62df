#include "core/quantized_linear.h"

#include <ATen/ATen.h>
#include <torch/csrc/autograd/custom_function.h>

#include <string>

#include "core/errors.h"

#ifdef LORA_NODE_CUDA_KERNELS
#include "kernels/nf4_kernels.h"
#ifdef LORA_NODE_WITH_CUDA
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#endif
#endif

namespace lora {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

#ifdef LORA_NODE_CUDA_KERNELS
// The packed weight on `device`, copied there once (quantize.h, Quantized4bit::on_device).
std::shared_ptr<const Quantized4bit::OnDevice> on_device(const Quantized4bit& q, const at::Device& device) {
  auto copy = std::atomic_load(&q.on_device);
  if (copy && copy->device == device) return copy;
  auto made = std::make_shared<Quantized4bit::OnDevice>(Quantized4bit::OnDevice{
      device, q.packed.to(device).contiguous(), q.absmax.to(device).contiguous(),
      q.double_quant() ? q.nested_absmax.to(device).contiguous() : at::Tensor()});
  std::atomic_store(&q.on_device, std::shared_ptr<const Quantized4bit::OnDevice>(made));
  return made;
}

// The same values as the CPU path (nf4_codes.h is shared), decoded on the GPU from the
// device copy: only the 4-bit codes live there between calls.
at::Tensor dequantized_cuda(const Quantized4bit& q, const at::Device& device) {
  auto d = on_device(q, device);
  cudaStream_t stream = nullptr;  // the legacy default stream: what libtorch uses unless told otherwise
#ifdef LORA_NODE_WITH_CUDA
  c10::cuda::CUDAGuard guard(device);
  stream = c10::cuda::getCurrentCUDAStream(device.index()).stream();
#endif
  LoraNf4Absmax scales{};
  if (q.double_quant()) {
    scales.absmax_codes = d->absmax.data_ptr<uint8_t>();
    scales.nested_absmax = d->nested_absmax.data_ptr<float>();
    scales.offset = q.offset;
    scales.nested_blocksize = static_cast<int>(q.nested_blocksize);
  } else {
    scales.absmax = d->absmax.data_ptr<float>();
  }
  const int type = q.type == QuantType::kNf4 ? LORA_QUANT_NF4 : LORA_QUANT_FP4;
  const bool half = q.dtype == at::kHalf;
  at::Tensor out = at::empty(q.shape, at::TensorOptions().device(device).dtype(half ? at::kHalf : at::kFloat));
  const uint8_t* packed = d->packed.data_ptr<uint8_t>();
  const int blocksize = static_cast<int>(q.blocksize);
  cudaError_t status = half ? lora_nf4_dequantize_f16(packed, scales, type, q.numel(), blocksize, reinterpret_cast<uint16_t*>(out.data_ptr()), stream)
                            : lora_nf4_dequantize_f32(packed, scales, type, q.numel(), blocksize, out.data_ptr<float>(), stream);
  if (status != cudaSuccess) fail(code::kDevice, std::string("4-bit dequantize kernel failed: ") + cudaGetErrorString(status));
  return half ? out : out.to(q.dtype);  // bfloat16: rounded from float32 as the CPU path rounds
}
#endif

// code·absmax rounded to the quant_state dtype (as bitsandbytes returns it), then
// in the compute dtype on the input's device.
at::Tensor dequantized(const Quantized4bit& q, at::ScalarType compute, const at::Device& device) {
#ifdef LORA_NODE_CUDA_KERNELS
  if (device.is_cuda()) return dequantized_cuda(q, device).to(compute);
#endif
  at::Tensor w = dequantize_4bit(q, q.dtype);
  return w.to(device, compute);
}

// Autograd for the linear over a dequantized weight that is not saved:
// backward dequantizes again (grad_x = grad_y · W).
struct DequantizeLinear : public torch::autograd::Function<DequantizeLinear> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& bias, const Quantized4bit* q,
                            at::ScalarType compute) {
    ctx->saved_data["q"] = static_cast<int64_t>(reinterpret_cast<intptr_t>(q));
    ctx->saved_data["compute"] = static_cast<int64_t>(compute);
    ctx->saved_data["has_bias"] = bias.defined();
    at::Tensor w = dequantized(*q, compute, x.device());                 // [out, in]
    at::Tensor b = bias.defined() ? bias.to(compute) : at::Tensor();
    return at::linear(x.to(compute), w, b);                              // [..., out]
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto* q = reinterpret_cast<const Quantized4bit*>(static_cast<intptr_t>(ctx->saved_data["q"].toInt()));
    const auto compute = static_cast<at::ScalarType>(ctx->saved_data["compute"].toInt());
    const at::Tensor& grad_y = grads[0];                                 // [..., out]
    // y = x Wᵀ + b  =>  grad_x = grad_y W,  grad_b = Σ grad_y
    at::Tensor w = dequantized(*q, compute, grad_y.device());
    at::Tensor grad_x = at::matmul(grad_y.to(compute), w);
    at::Tensor grad_b;
    if (ctx->saved_data["has_bias"].toBool()) grad_b = grad_y.reshape({-1, grad_y.size(-1)}).sum(0);
    return {grad_x, grad_b, at::Tensor(), at::Tensor()};
  }
};

}  // namespace

at::Tensor quantized_linear(const at::Tensor& x, const Quantized4bit& q, const at::Tensor& bias, at::ScalarType compute) {
  return DequantizeLinear::apply(x, bias, &q, compute);
}

int64_t quantized_bytes(const Quantized4bit& q) {
  int64_t n = q.packed.numel() * q.packed.element_size() + q.absmax.numel() * q.absmax.element_size();
  if (q.double_quant()) n += q.nested_absmax.numel() * q.nested_absmax.element_size() + 4;
  return n;
}

}  // namespace lora
