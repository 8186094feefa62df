// safetensors files: https://github.com/huggingface/safetensors (format spec).
// Layout: u64 little-endian header length N, N bytes of JSON header, raw data.
// The header maps tensor names to {dtype, shape, data_offsets:[begin,end)}
// relative to the data section, plus an optional "__metadata__" string map.
// Every header is validated before any byte is read as a tensor.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace lora {

struct SafetensorsEntry {
  std::string name;
  std::string dtype;            // "F32", "F16", "BF16", "I64", "I32", "U8"
  std::vector<int64_t> shape;
  uint64_t begin = 0;           // byte offsets inside the data section
  uint64_t end = 0;
};

// A validated, memory-mapped safetensors file. Tensors returned by tensor()
// are CPU tensors that own a copy of their bytes, so they outlive the file.
class SafetensorsFile {
 public:
  // Throws lora::Error (ERR_IO, ERR_SAFETENSORS_HEADER) naming the file and the problem.
  static std::shared_ptr<SafetensorsFile> open(const std::string& path);
  ~SafetensorsFile();
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  const std::string& path() const { return path_; }
  const std::vector<SafetensorsEntry>& entries() const { return entries_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  bool contains(const std::string& name) const;
  const SafetensorsEntry& entry(const std::string& name) const;  // ERR_MISSING_TENSOR
  // Copies the tensor's bytes into a new CPU tensor of its stored dtype.
  at::Tensor tensor(const std::string& name) const;               // ERR_MISSING_TENSOR

 private:
  SafetensorsFile() = default;
  std::string path_;
  const uint8_t* map_ = nullptr;
  uint64_t size_ = 0;
  uint64_t data_start_ = 0;
  std::vector<SafetensorsEntry> entries_;
  std::map<std::string, size_t> index_;
  std::map<std::string, std::string> metadata_;
};

// Parses and validates a header (the JSON text) against a data section of
// data_size bytes. Separate from open() so it can be tested on raw bytes.
std::vector<SafetensorsEntry> parse_safetensors_header(const std::string& file_label, const std::string& json_text,
                                                       uint64_t data_size,
                                                       std::map<std::string, std::string>* metadata);

// Writes tensors (contiguous CPU copies are made as needed) in name order,
// atomically: a temporary file in the same folder, fsync, then rename.
void write_safetensors(const std::string& path, const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

// Bytes per element of a safetensors dtype string; throws on unknown dtypes.
size_t safetensors_dtype_size(const std::string& dtype);

}  // namespace lora
