// MultiAdapterModel: reading adapters against the shared base, and building
// the immutable stacked sets that forwards run on (see multi_adapter.h).
#include <ATen/ATen.h>

#include <algorithm>

#include "core/errors.h"
#include "core/multi_adapter.h"
#include "core/safetensors.h"
#include "core/text_format.h"

namespace lora {
namespace {

at::Tensor checked(const SafetensorsFile& file, const std::string& key, std::vector<int64_t> shape, const std::string& what,
                   bool base_hint = true) {
  at::Tensor t = file.tensor(key);
  if (!t.sizes().equals(shape))
    fail(code::kShape, file.path() + ": \"" + key + "\" has shape " + shape_text(t.sizes()) + " but " + what +
                           " expects " + shape_text(shape) +
                           (base_hint ? " (was the adapter trained on another base model?)" : ""));
  return t.to(at::kFloat);
}

int64_t bytes_of(const at::Tensor& t) { return t.defined() ? t.numel() * static_cast<int64_t>(t.element_size()) : 0; }

}  // namespace

MultiAdapterModel::MultiAdapterModel(std::shared_ptr<const DistilBertClassifier> base) : base_(std::move(base)) {
  if (!base_) fail(code::kInvalidArgument, "Expected a base model but received none");
  if (base_->has_lora())
    fail(code::kInvalidArgument, "Expected a base model without LoRA adapters of its own: adapters are added per name");
  static const char* kNames[kBlockLinears] = {"attention.q_lin", "attention.k_lin", "attention.v_lin",
                                              "attention.out_lin", "ffn.lin1", "ffn.lin2"};
  for (size_t i = 0; i < base_->blocks.size(); ++i)
    for (int which = 0; which < kBlockLinears; ++which)
      block_linears_["distilbert.transformer.layer." + std::to_string(i) + "." + kNames[which]] = {
          static_cast<int64_t>(i), static_cast<BlockLinear>(which)};
  current_ = build_set({});
}

std::shared_ptr<const LoadedAdapter> MultiAdapterModel::read_adapter(const AdapterSource& source) const {
  const DistilBertClassifier& base = *base_;
  const std::string& path = source.weights_path;
  const int64_t C = base.config_.dim;
  if (source.num_labels < 1)
    fail(code::kInvalidArgument, "Expected at least one label for adapter \"" + source.name + "\" but received " +
                                     std::to_string(source.num_labels));
  auto adapter = std::make_shared<LoadedAdapter>();
  adapter->name = source.name;
  adapter->metadata = source.metadata;
  adapter->pre_classifier = base.pre_classifier;  // replaced below when the adapter saves its own head
  adapter->classifier = base.classifier;

  std::map<std::string, const LoraModuleSpec*> targets;
  for (const auto& m : source.spec.modules) {
    const bool head = m.module == "pre_classifier" || m.module == "classifier";
    if (!block_linears_.count(m.module) && !head)
      fail(code::kConfig, path + ": adapter_config.json targets \"" + m.module + "\", which the base model does not have");
    if (m.r < 1) fail(code::kInvalidArgument, "Expected r >= 1 for " + m.module + " but received " + std::to_string(m.r));
    targets[m.module] = &m;
  }

  auto file = SafetensorsFile::open(path);
  const c10::Device device = base.device_;
  std::map<std::string, std::pair<std::string, std::string>> lora_keys;  // module -> (A key, B key)
  bool saved_pre = false, saved_classifier = false;
  std::pair<std::string, std::string> classifier_keys;  // weight, bias
  for (const auto& entry : file->entries()) {
    const std::string& key = entry.name;
    const std::string name = peft_parameter_name(key);
    bool is_lora = false;
    for (const char* part : {".lora_A.weight", ".lora_B.weight"}) {
      if (!ends_with(name, part)) continue;
      const std::string module = name.substr(0, name.size() - std::string(part).size());
      if (!block_linears_.count(module) && module != "pre_classifier" && module != "classifier")
        fail(code::kShape, path + ": \"" + key + "\" adapts " + module +
                               ", which the base model does not have (was the adapter trained on another base model?)");
      if (!targets.count(module))
        fail(code::kConfig, path + ": \"" + key + "\" adapts " + module + ", which adapter_config.json does not target");
      (std::string(part) == ".lora_A.weight" ? lora_keys[module].first : lora_keys[module].second) = key;
      is_lora = true;
    }
    if (is_lora) continue;
    const auto dot = name.rfind('.');
    const std::string module = dot == std::string::npos ? name : name.substr(0, dot);
    const std::string param = dot == std::string::npos ? "" : name.substr(dot + 1);
    if (module == "pre_classifier" && (param == "weight" || param == "bias")) {
      Linear& l = adapter->pre_classifier;
      (param == "weight" ? l.weight : l.bias) =
          checked(*file, key, param == "weight" ? std::vector<int64_t>{C, C} : std::vector<int64_t>{C}, "the base model")
              .to(device);
      saved_pre = true;
    } else if (module == "classifier" && (param == "weight" || param == "bias")) {
      (param == "weight" ? classifier_keys.first : classifier_keys.second) = key;  // checked last (see below)
      saved_classifier = true;
    } else if (block_linears_.count(module) && param == "bias") {
      const Linear& l = *base.linears_.at(module);
      adapter->biases[module] = checked(*file, key, {l.out_features()}, "the base model").to(device);
    } else {
      fail(code::kConfig, path + ": \"" + key + "\" replaces the base parameter " + name +
                              "; adapters that share one base may carry only LoRA matrices, linear biases and "
                              "the head (pre_classifier, classifier)");
    }
  }
  // The classifier last: a tensor of another base (dim) is reported as that, before
  // a label count that differs from the head's rows.
  const int64_t K = source.num_labels;
  const std::string labels_need = "a head for the adapter's " + std::to_string(K) + " labels (lora-node.json, else the base's config.json)";
  if (!classifier_keys.first.empty()) {
    at::Tensor w = file->tensor(classifier_keys.first);
    if (w.dim() == 2 && w.size(1) != C) checked(*file, classifier_keys.first, {w.size(0), C}, "the base model");
    adapter->classifier.weight = checked(*file, classifier_keys.first, {K, C}, labels_need, false).to(device);
  }
  if (!classifier_keys.second.empty()) adapter->classifier.bias = checked(*file, classifier_keys.second, {K}, labels_need, false).to(device);
  if (saved_pre != saved_classifier || !saved_pre) {
    if (!base.head_notice().empty())
      fail(code::kConfig, path + ": the adapter saves no complete head (modules_to_save: pre_classifier and classifier) "
                              "and the base model has none to lend: " + base.head_notice());
    if (!saved_classifier && base.classifier.out_features() != source.num_labels)
      fail(code::kShape, path + ": the adapter saves no classifier and the base model's has " +
                             std::to_string(base.classifier.out_features()) + " outputs, not the adapter's " +
                             std::to_string(source.num_labels) + " labels");
  }

  for (const auto& [module, m] : targets) {
    const auto keys = lora_keys[module];
    for (const auto& [key, part] : {std::pair{keys.first, ".lora_A.weight"}, std::pair{keys.second, ".lora_B.weight"}})
      if (key.empty()) fail(code::kMissingTensor, path + ": the adapter has no \"" + kPeftPrefix + module + part + "\"");
    Linear* head = module == "pre_classifier" ? &adapter->pre_classifier
                   : module == "classifier"   ? &adapter->classifier
                                              : nullptr;
    const Linear& l = head ? *head : *base.linears_.at(module);
    LoraAdapter lora;
    lora.A = checked(*file, keys.first, {m->r, l.in_features()}, "rank " + std::to_string(m->r) + " on the base's " + module).to(device);
    lora.B = checked(*file, keys.second, {l.out_features(), m->r}, "rank " + std::to_string(m->r) + " on the base's " + module).to(device);
    lora.scale = lora_scale(m->alpha, m->r, source.spec.use_rslora);
    adapter->bytes += bytes_of(lora.A) + bytes_of(lora.B);
    if (head) head->lora = std::make_shared<LoraAdapter>(lora);
    else adapter->lora[module] = lora;
  }
  for (const auto& [module, bias] : adapter->biases) adapter->bytes += bytes_of(bias);
  if (saved_pre) adapter->bytes += bytes_of(adapter->pre_classifier.weight) + bytes_of(adapter->pre_classifier.bias);
  if (saved_classifier) adapter->bytes += bytes_of(adapter->classifier.weight) + bytes_of(adapter->classifier.bias);
  return adapter;
}

std::shared_ptr<const AdapterSet> MultiAdapterModel::build_set(
    std::vector<std::shared_ptr<const LoadedAdapter>> adapters) const {
  const DistilBertClassifier& base = *base_;
  auto set = std::make_shared<AdapterSet>();
  set->adapters = std::move(adapters);
  set->layers.resize(base.blocks.size());
  set->first_adapted_layer = static_cast<int64_t>(base.blocks.size());
  const auto dtype = compute_dtype(base.precision_);
  const c10::Device device = base.device_;
  const int64_t n = static_cast<int64_t>(set->adapters.size());
  for (const auto& [module, where] : block_linears_) {
    std::vector<int64_t> groups;
    int64_t r_max = 0;
    bool any_lora = false, any_bias = false;
    for (int64_t i = 0; i < n; ++i) {
      const LoadedAdapter& a = *set->adapters[i];
      const auto lora = a.lora.find(module);
      const bool bias = a.biases.count(module) > 0;
      if (lora == a.lora.end() && !bias) continue;
      groups.push_back(i);
      if (lora != a.lora.end()) r_max = std::max(r_max, lora->second.A.size(0)), any_lora = true;
      any_bias = any_bias || bias;
    }
    if (groups.empty()) continue;
    set->first_adapted_layer = std::min(set->first_adapted_layer, where.first);
    const Linear& l = *base.linears_.at(module);
    const int64_t G = static_cast<int64_t>(groups.size()), in = l.in_features(), out = l.out_features();
    StackedUpdate& u = set->layers[where.first][where.second];
    const auto fp32 = at::TensorOptions().dtype(at::kFloat).device(device);
    if (any_lora) {
      // Zero rows/columns pad each rank to r_max: they add exact zeros.
      at::Tensor A = at::zeros({G, r_max, in}, fp32), B = at::zeros({G, out, r_max}, fp32);
      at::Tensor scale = at::zeros({G, 1, 1}, fp32);
      for (int64_t g = 0; g < G; ++g) {
        const auto& adapted = set->adapters[groups[g]]->lora;
        const auto it = adapted.find(module);
        if (it == adapted.end()) continue;
        const int64_t r = it->second.A.size(0);
        A[g].narrow(0, 0, r).copy_(it->second.A);
        B[g].narrow(1, 0, r).copy_(it->second.B);
        scale[g].fill_(it->second.scale);
      }
      u.A = A.to(dtype);
      u.B = B.to(dtype);
      u.scale = scale;  // fp32: multiplied as the single-adapter path multiplies its double scale
    }
    if (any_bias) {
      at::Tensor delta = at::zeros({G, 1, out}, fp32);
      for (int64_t g = 0; g < G; ++g) {
        const auto& biases = set->adapters[groups[g]]->biases;
        const auto it = biases.find(module);
        if (it != biases.end()) delta[g][0].copy_(it->second - l.bias);
      }
      u.bias_delta = delta.to(dtype);
    }
    if (G != n) u.groups = at::tensor(groups, at::kLong).to(device);
  }
  return set;
}

void MultiAdapterModel::add(std::shared_ptr<const LoadedAdapter> adapter) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto adapters = current_->adapters;
  for (const auto& a : adapters)
    if (a->name == adapter->name)
      fail(code::kInvalidArgument, "Expected a new adapter name but \"" + adapter->name + "\" is already loaded");
  adapters.push_back(std::move(adapter));
  current_ = build_set(std::move(adapters));
}

void MultiAdapterModel::remove(const std::string& name) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto adapters = current_->adapters;
  const auto it = std::find_if(adapters.begin(), adapters.end(), [&](const auto& a) { return a->name == name; });
  if (it == adapters.end()) {
    std::string known;
    for (const auto& a : adapters) known += (known.empty() ? "\"" : ", \"") + a->name + "\"";
    fail(code::kInvalidArgument, "Expected the name of a loaded adapter (" + (known.empty() ? "none loaded" : known) +
                                     ") but received \"" + name + "\"");
  }
  adapters.erase(it);
  current_ = build_set(std::move(adapters));
}

std::shared_ptr<const AdapterSet> MultiAdapterModel::snapshot() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return current_;
}

}  // namespace lora
