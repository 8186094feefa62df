// Typed arrays -> the risk head's inputs (shared by NativeModel.forward and NativeTrainer).
#pragma once

#include <napi.h>

#include "core/risk_inputs.h"

namespace lora::addon {

// numeric: Float32Array [rows × width] or undefined; categorical: Int32Array
// [rows × count] or undefined. Widths follow from the lengths (checked).
RiskInputs risk_inputs_from(Napi::Env env, const Napi::Value& numeric, const Napi::Value& categorical, int64_t rows,
                            const char* where);

}  // namespace lora::addon
