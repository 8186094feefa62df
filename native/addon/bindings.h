// Each binding file registers its functions/classes on the module's exports.
#pragma once

#include <napi.h>

namespace lora::addon {

void register_runtime(Napi::Env env, Napi::Object exports);      // runtime_binding.cpp
void register_safetensors(Napi::Env env, Napi::Object exports);  // safetensors_binding.cpp
void register_model(Napi::Env env, Napi::Object exports);        // model_handle.cpp
void register_trainer(Napi::Env env, Napi::Object exports);      // trainer_handle.cpp
void register_optim(Napi::Env env, Napi::Object exports);        // optim_binding.cpp
void register_quant(Napi::Env env, Napi::Object exports);        // quant_binding.cpp
void register_multi_model(Napi::Env env, Napi::Object exports);  // multi_adapter_binding.cpp
void register_risk_head(Napi::Env env, Napi::Object exports);    // risk_head_binding.cpp
void register_train_ops(Napi::Env env, Napi::Object exports);    // train_ops_binding.cpp
void register_mlm(Napi::Env env, Napi::Object exports);          // mlm_binding.cpp
void register_file_lock(Napi::Env env, Napi::Object exports);    // file_lock_binding.cpp

}  // namespace lora::addon
