// Module entry point: the native surface is typed in lib/native/types.ts.
#include <napi.h>

#include "addon/bindings.h"

namespace {

Napi::Object init(Napi::Env env, Napi::Object exports) {
  lora::addon::register_runtime(env, exports);
  lora::addon::register_safetensors(env, exports);
  lora::addon::register_model(env, exports);
  lora::addon::register_trainer(env, exports);
  lora::addon::register_optim(env, exports);
  lora::addon::register_quant(env, exports);
  lora::addon::register_multi_model(env, exports);
  lora::addon::register_risk_head(env, exports);
  lora::addon::register_train_ops(env, exports);
  lora::addon::register_mlm(env, exports);
  lora::addon::register_file_lock(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(lora_node, init)
