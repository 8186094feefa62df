// Errors thrown by the native core. Each carries a stable code that the addon
// passes to JavaScript unchanged (lib/errors.ts lists the same codes).
#pragma once

#include <stdexcept>
#include <string>

namespace lora {

namespace code {
inline constexpr const char* kInvalidArgument = "ERR_INVALID_ARGUMENT";
inline constexpr const char* kSafetensorsHeader = "ERR_SAFETENSORS_HEADER";
inline constexpr const char* kSafetensorsData = "ERR_SAFETENSORS_DATA";
inline constexpr const char* kConfig = "ERR_CONFIG";
inline constexpr const char* kShape = "ERR_SHAPE";
inline constexpr const char* kMissingTensor = "ERR_MISSING_TENSOR";
inline constexpr const char* kIo = "ERR_IO";
inline constexpr const char* kDevice = "ERR_DEVICE";
inline constexpr const char* kInternal = "ERR_NATIVE";
}  // namespace code

class Error : public std::runtime_error {
 public:
  Error(const char* code, const std::string& message) : std::runtime_error(message), code_(code) {}
  const char* code() const noexcept { return code_; }

 private:
  const char* code_;
};

[[noreturn]] inline void fail(const char* code, const std::string& message) { throw Error(code, message); }

}  // namespace lora
