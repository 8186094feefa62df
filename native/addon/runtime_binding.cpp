// Process-wide runtime facts and settings: doctor's data, threads, BLAS check.
#include <napi.h>

#include "addon/bindings.h"
#include "addon/napi_errors.h"
#include "addon/tensor_convert.h"
#include "core/runtime.h"

namespace lora::addon {
namespace {

Napi::Value runtime_info_js(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const RuntimeInfo r = guarded(env, [] { return runtime_info(); });
  Napi::Object out = Napi::Object::New(env);
  out.Set("torchVersion", r.torch_version);
  out.Set("cudaAvailable", r.cuda_available);
  out.Set("cudaDeviceCount", r.cuda_device_count);
  Napi::Array devices = Napi::Array::New(env, r.cuda_devices.size());
  for (size_t i = 0; i < r.cuda_devices.size(); ++i) devices.Set(i, r.cuda_devices[i]);
  out.Set("cudaDevices", devices);
  out.Set("builtWithCudaKernels", r.built_with_cuda_kernels);
  out.Set("intraOpThreads", r.intra_op_threads);
  Napi::Object cpu = Napi::Object::New(env);
  cpu.Set("avx2", r.cpu.avx2);
  cpu.Set("avx512f", r.cpu.avx512f);
  cpu.Set("avx512bf16", r.cpu.avx512_bf16);
  cpu.Set("amxBf16", r.cpu.amx_bf16);
  out.Set("cpu", cpu);
  Napi::Object blas = Napi::Object::New(env);
  blas.Set("library", r.blas.library);
  blas.Set("kind", r.blas.kind);
  blas.Set("core", r.blas.core);
  blas.Set("config", r.blas.config);
  out.Set("blas", blas);
  out.Set("parallelInfo", r.parallel_info);
  out.Set("allocator", allocator_setting());
  return out;
}

Napi::Value set_threads_js(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int64_t n = positive_int(env, info[0], "threads");
  guarded(env, [&] { set_threads(static_cast<int>(n)); });
  return env.Undefined();
}

Napi::Value blas_self_check_js(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return Napi::Number::New(env, guarded(env, [] { return blas_self_check(); }));
}

// resolvePrecision(precision, device) -> { device, precision, reason }
Napi::Value resolve_precision_js(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString() || !info[1].IsString())
    throw make_error(env, code::kInvalidArgument, "Expected (precision: string, device: string)");
  const std::string requested_precision = info[0].As<Napi::String>();
  const std::string device_name = info[1].As<Napi::String>();
  std::string reason;
  c10::Device device(c10::kCPU);
  Precision p = Precision::FP32;
  guarded(env, [&] {
    device = resolve_device(device_name);
    p = resolve_precision(requested_precision, device, &reason);
  });
  Napi::Object out = Napi::Object::New(env);
  out.Set("device", device.str());
  out.Set("precision", precision_name(p));
  out.Set("reason", reason);
  return out;
}

}  // namespace

void register_runtime(Napi::Env env, Napi::Object exports) {
  configure_allocator();  // once, when the addon loads, before any tensor exists
  exports.Set("runtimeInfo", Napi::Function::New(env, runtime_info_js, "runtimeInfo"));
  exports.Set("setThreads", Napi::Function::New(env, set_threads_js, "setThreads"));
  exports.Set("blasSelfCheck", Napi::Function::New(env, blas_self_check_js, "blasSelfCheck"));
  exports.Set("resolvePrecision", Napi::Function::New(env, resolve_precision_js, "resolvePrecision"));
}

}  // namespace lora::addon
