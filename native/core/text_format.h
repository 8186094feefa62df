// Numbers and shapes in error messages, written as JavaScript would print
// them, so native and TypeScript messages read alike.
#pragma once

#include <c10/util/ArrayRef.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace lora {

// "[2, 3]"
inline std::string shape_text(c10::IntArrayRef shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

// Shortest text that reads back as the same double, as Number.prototype.toString
// prints it ("0.999", "1e-8", "NaN").
inline std::string number_text(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "Infinity" : "-Infinity";
  if (value == 0) return "0";
  char buffer[64];
  int precision = 1;
  for (; precision < 17; ++precision) {
    std::snprintf(buffer, sizeof buffer, "%.*e", precision - 1, value);
    if (std::strtod(buffer, nullptr) == value) break;
  }
  std::snprintf(buffer, sizeof buffer, "%.*e", precision - 1, value);
  const int exponent = std::atoi(std::strchr(buffer, 'e') + 1);
  if (exponent >= -6 && exponent < 21) {  // plain notation
    std::snprintf(buffer, sizeof buffer, "%.*f", std::max(0, precision - 1 - exponent), value);
    return buffer;
  }
  std::string mantissa(buffer, std::strchr(buffer, 'e'));
  return mantissa + (exponent < 0 ? "e-" : "e+") + std::to_string(std::abs(exponent));
}

}  // namespace lora
