// The masking spec object shared by maskTokens() and NativeTrainer's MLM config.
#pragma once

#include <napi.h>

#include "core/mlm_masking.h"

namespace lora::addon {

// { probability, maskFraction?, randomFraction?, wholeWord?, maskTokenId, special: Uint8Array [V],
//   continuation?: Uint8Array [V] } -> a spec checked against vocab_size (ERR_INVALID_ARGUMENT).
MaskingSpec parse_masking_spec(Napi::Env env, const Napi::Value& value, int64_t vocab_size);

}  // namespace lora::addon
