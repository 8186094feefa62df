// Describing and reading JS values at the addon boundary, so every
// validation message reads as lib/errors.ts words it:
// "Expected X for name but received Y".
#pragma once

#include <napi.h>

#include <string>
#include <vector>

#include "addon/napi_errors.h"

namespace lora::addon {

// JSON-style quoting for names inside messages, as JSON.stringify writes them:
// tensors["x.weight"], control characters as \n, \t or \u0000.
inline std::string js_quoted(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\b') {
      out += "\\b";
    } else if (c == '\f') {
      out += "\\f";
    } else if (u < 0x20) {
      static const char* hex = "0123456789abcdef";
      out += "\\u00";
      out += hex[u >> 4];
      out += hex[u & 15];
    } else {
      out += c;
    }
  }
  return out + "\"";
}

// Mirrors describeReceived() in lib/errors.ts.
inline std::string describe(const Napi::Value& value) {
  if (value.IsNull()) return "null";
  if (value.IsUndefined()) return "undefined";
  if (value.IsString()) {
    std::u16string text = value.As<Napi::String>().Utf16Value();
    std::string shown = text.size() > 40 ? Napi::String::New(value.Env(), text.substr(0, 40)).Utf8Value() + "\xE2\x80\xA6"
                                         : value.As<Napi::String>().Utf8Value();
    return "the string " + js_quoted(shown);
  }
  if (value.IsNumber() || value.IsBoolean() || value.IsBigInt()) {
    const char* type = value.IsNumber() ? "number" : value.IsBoolean() ? "boolean" : "bigint";
    return std::string(type) + " " + value.ToString().Utf8Value();
  }
  if (value.IsArray()) return "an array of length " + std::to_string(value.As<Napi::Array>().Length());
  if (value.IsFunction()) return "a function";
  std::string ctor = "Object";
  if (value.IsObject()) {
    Napi::Value c = value.As<Napi::Object>().Get("constructor");
    if (c.IsFunction()) {
      Napi::Value name = c.As<Napi::Object>().Get("name");
      if (name.IsString()) ctor = name.As<Napi::String>().Utf8Value();
    }
  }
  if (value.IsTypedArray()) return "a " + ctor + " of length " + std::to_string(value.As<Napi::TypedArray>().ElementLength());
  if (value.IsDataView()) return "a DataView of length " + std::to_string(value.As<Napi::DataView>().ByteLength());
  return "an object of type " + ctor;
}

[[noreturn]] inline void throw_expected(Napi::Env env, const std::string& what, const std::string& name, const Napi::Value& value) {
  throw make_error(env, code::kInvalidArgument, "Expected " + what + " for " + name + " but received " + describe(value));
}

// A file or folder path from JS: a non-empty string without NUL characters (a NUL
// would silently cut the path short in every system call).
inline std::string path_value(Napi::Env env, const Napi::Value& value, const std::string& name) {
  std::string path = value.IsString() ? value.As<Napi::String>().Utf8Value() : std::string();
  if (path.empty()) throw_expected(env, "a non-empty path string", name, value);
  if (path.find('\0') != std::string::npos) throw_expected(env, "a path without NUL characters", name, value);
  return path;
}

inline bool is_plain_object(const Napi::Value& value) {
  return value.IsObject() && !value.IsArray() && !value.IsFunction() && !value.IsTypedArray() &&
         !value.IsArrayBuffer() && !value.IsDataView() && !value.IsPromise();
}

// An array of strings (checked element by element).
inline std::vector<std::string> string_list(Napi::Env env, const Napi::Value& value, const std::string& name) {
  if (!value.IsArray()) throw_expected(env, "an array of strings", name, value);
  Napi::Array array = value.As<Napi::Array>();
  std::vector<std::string> out;
  for (uint32_t i = 0; i < array.Length(); ++i) {
    Napi::Value item = array.Get(i);
    if (!item.IsString()) throw_expected(env, "a string", name + "[" + std::to_string(i) + "]", item);
    out.push_back(item.As<Napi::String>().Utf8Value());
  }
  return out;
}

// Own enumerable string keys, as Object.keys() returns them.
inline std::vector<std::string> own_keys(Napi::Env env, const Napi::Object& object) {
  napi_value names;
  napi_status status = napi_get_all_property_names(env, object, napi_key_own_only,
                                                   static_cast<napi_key_filter>(napi_key_enumerable | napi_key_skip_symbols),
                                                   napi_key_numbers_to_strings, &names);
  if (status != napi_ok) throw Napi::Error::New(env);
  Napi::Array array(env, names);
  std::vector<std::string> keys;
  keys.reserve(array.Length());
  for (uint32_t i = 0; i < array.Length(); ++i) keys.push_back(array.Get(i).As<Napi::String>().Utf8Value());
  return keys;
}

// Defines an own data property, so even a key like "__proto__" stays a plain entry.
inline void define(Napi::Object& object, const std::string& key, Napi::Value value) {
  Napi::String name = Napi::String::New(object.Env(), key);  // keeps embedded NULs, unlike a char*
  object.DefineProperty(Napi::PropertyDescriptor::Value(name, value, napi_default_jsproperty));
}

}  // namespace lora::addon
