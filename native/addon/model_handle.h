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

// A NativeLoraSpec object (lib/native/types.ts) -> LoraSpec; ERR_INVALID_ARGUMENT on bad fields.
LoraSpec parse_lora_spec(Napi::Env env, const Napi::Object& spec);

}  // namespace lora::addon
