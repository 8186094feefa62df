// The tensors of a Hugging Face checkpoint folder: model.safetensors, or the
// shards listed by model.safetensors.index.json.
#pragma once

#include <ATen/core/Tensor.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/safetensors.h"

namespace lora {

class CheckpointTensors {
 public:
  // ERR_IO when the folder has no safetensors weights (pytorch_model.bin is named in the message).
  static CheckpointTensors open(const std::string& dir);

  bool contains(const std::string& name) const { return owner_.count(name) > 0; }
  // The stored tensor converted to fp32, checked against `shape` (ERR_MISSING_TENSOR, ERR_SHAPE).
  at::Tensor float_tensor(const std::string& name, const std::vector<int64_t>& shape) const;
  std::vector<std::string> names() const;
  // The stored tensor as it is (its own dtype), ERR_MISSING_TENSOR when absent.
  at::Tensor raw_tensor(const std::string& name) const;
  // The stored shape of a tensor (ERR_MISSING_TENSOR when absent).
  const std::vector<int64_t>& shape_of(const std::string& name) const;
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
  std::map<std::string, std::shared_ptr<SafetensorsFile>> owner_;  // tensor name -> file holding it
};

// Copies a tensor read from `file` (under `key`) into `dst`, converted to fp32, without
// recording autograd; a shape that differs from dst's is ERR_SHAPE naming `owner`
// ("the model", "the risk head").
void copy_checked(at::Tensor& dst, const at::Tensor& src, const std::string& file, const std::string& key,
                  const std::string& owner = "the model");

}  // namespace lora
