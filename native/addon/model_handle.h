// Access to the core model behind a NativeModel JS object (for NativeTrainer).
#pragma once

#include <napi.h>

#include <memory>

#include "core/distilbert.h"

namespace lora::addon {

struct ModelAccess {
  std::shared_ptr<DistilBertClassifier> model;
  int threads = 1;
};

// ERR_INVALID_ARGUMENT when value is not a NativeModel, ERR_DISPOSED after dispose().
ModelAccess unwrap_model(Napi::Env env, const Napi::Value& value);

// ERR_INVALID_ARGUMENT for a backward pass on a model with nothing to train
// (libtorch's own message, "element 0 of tensors does not require grad", says too little).
void check_trainable_for_backward(Napi::Env env, const DistilBertClassifier& model);

// A NativeLoraSpec object (lib/native/types.ts) -> LoraSpec; ERR_INVALID_ARGUMENT on bad fields.
LoraSpec parse_lora_spec(Napi::Env env, const Napi::Object& spec);

}  // namespace lora::addon
