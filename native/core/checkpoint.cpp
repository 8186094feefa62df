#include "core/checkpoint.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/errors.h"
#include "core/text_format.h"

namespace lora {
namespace {
void add_file(std::map<std::string, std::shared_ptr<SafetensorsFile>>* owner,
              const std::shared_ptr<SafetensorsFile>& file) {
  for (const auto& entry : file->entries()) (*owner)[entry.name] = file;
}

}  // namespace

CheckpointTensors CheckpointTensors::open(const std::string& dir) {
  namespace fs = std::filesystem;
  CheckpointTensors result;
  result.dir_ = dir;
  const fs::path single = fs::path(dir) / "model.safetensors";
  const fs::path index = fs::path(dir) / "model.safetensors.index.json";
  if (fs::exists(single)) {
    add_file(&result.owner_, SafetensorsFile::open(single.string()));
    return result;
  }
  if (fs::exists(index)) {
    std::ifstream in(index);
    std::stringstream text;
    text << in.rdbuf();
    nlohmann::json j = nlohmann::json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded() || !j.contains("weight_map") || !j.at("weight_map").is_object())
      fail(code::kSafetensorsHeader, index.string() + ": expected a JSON object with a \"weight_map\" object");
    std::map<std::string, std::shared_ptr<SafetensorsFile>> shards;
    for (const auto& [name, shard] : j.at("weight_map").items()) {
      if (!shard.is_string()) fail(code::kSafetensorsHeader, index.string() + ": shard of \"" + name + "\" is not a string");
      const std::string shard_name = shard.get<std::string>();
      if (shard_name.find('/') != std::string::npos || shard_name.find("..") != std::string::npos)
        fail(code::kSafetensorsHeader, index.string() + ": shard \"" + shard_name + "\" must be a file name in the folder");
      if (!shards.count(shard_name)) shards[shard_name] = SafetensorsFile::open((fs::path(dir) / shard_name).string());
      const auto& file = shards[shard_name];
      if (!file->contains(name))
        fail(code::kMissingTensor, index.string() + ": \"" + name + "\" is not in " + shard_name);
      result.owner_[name] = file;
    }
    return result;
  }
  std::string hint;
  if (fs::exists(fs::path(dir) / "pytorch_model.bin"))
    hint = " (found pytorch_model.bin: lora-node reads safetensors only; convert it in Python with "
           "model.save_pretrained(dir, safe_serialization=True))";
  fail(code::kIo, "no model.safetensors or model.safetensors.index.json in " + dir + hint);
}

at::Tensor CheckpointTensors::float_tensor(const std::string& name, const std::vector<int64_t>& shape) const {
  auto it = owner_.find(name);
  if (it == owner_.end()) fail(code::kMissingTensor, dir_ + ": the checkpoint has no tensor \"" + name + "\"");
  const SafetensorsEntry& entry = it->second->entry(name);
  if (entry.shape != shape)
    fail(code::kShape, dir_ + ": tensor \"" + name + "\" has shape " + shape_text(entry.shape) +
                           " but config.json implies " + shape_text(shape));
  at::Tensor t = it->second->tensor(name);
  if (!at::isFloatingType(t.scalar_type()))
    fail(code::kShape, dir_ + ": tensor \"" + name + "\" has dtype " + entry.dtype + "; expected a float dtype");
  return t.to(at::kFloat);
}

const std::vector<int64_t>& CheckpointTensors::shape_of(const std::string& name) const {
  auto it = owner_.find(name);
  if (it == owner_.end()) fail(code::kMissingTensor, dir_ + ": the checkpoint has no tensor \"" + name + "\"");
  return it->second->entry(name).shape;
}

at::Tensor CheckpointTensors::raw_tensor(const std::string& name) const {
  auto it = owner_.find(name);
  if (it == owner_.end()) fail(code::kMissingTensor, dir_ + ": the checkpoint has no tensor \"" + name + "\"");
  return it->second->tensor(name);
}

void copy_checked(at::Tensor& dst, const at::Tensor& src, const std::string& file, const std::string& key,
                  const std::string& owner) {
  if (!dst.sizes().equals(src.sizes()))
    fail(code::kShape, file + ": \"" + key + "\" has shape " + shape_text(src.sizes()) + " but " + owner + " expects " +
                           shape_text(dst.sizes()));
  at::NoGradGuard no_grad;
  dst.copy_(src.to(at::kFloat));
}

std::vector<std::string> CheckpointTensors::names() const {
  std::vector<std::string> out;
  for (const auto& [name, file] : owner_) out.push_back(name);
  return out;
}

}  // namespace lora
