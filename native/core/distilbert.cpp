#include "core/distilbert.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/core/grad_mode.h>
#include <c10/core/InferenceMode.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <mutex>

#include "core/checkpoint.h"
#include "core/errors.h"
#include "core/fused_norm.h"
#include "core/mlm_head.h"
#include "core/text_format.h"
#include "core/train_fused.h"
#include "core/quantized_linear.h"
#include "core/risk_head.h"
#include "core/safetensors.h"

namespace lora {
namespace {

constexpr double kLayerNormEps = 1e-12;  // DistilBERT's LayerNorm eps

// A Linear4bit weight as bitsandbytes/transformers save it (see state_dict()).
// The packed codes stay on the CPU, where the dequantizer runs.
std::shared_ptr<Quantized4bit> load_4bit(const CheckpointTensors& t, const std::string& w, int64_t out, int64_t in) {
  std::string state_key;
  for (QuantType type : {QuantType::kNf4, QuantType::kFp4})
    if (t.contains(w + ".quant_state." + quant_state_key_suffix(type))) state_key = w + ".quant_state." + quant_state_key_suffix(type);
  if (state_key.empty())
    fail(code::kMissingTensor, t.dir() + ": \"" + w + ".absmax\" is present but its quant_state (" + w +
                                   ".quant_state.bitsandbytes__nf4 or __fp4) is missing");
  at::Tensor state_bytes = t.raw_tensor(state_key).contiguous();
  const QuantStateInfo info = parse_quant_state(
      std::string(reinterpret_cast<const char*>(state_bytes.data_ptr()), state_bytes.numel() * state_bytes.element_size()));
  if (info.shape != std::vector<int64_t>{out, in})
    fail(code::kShape, t.dir() + ": the quant_state of \"" + w + "\" has shape " + shape_text(info.shape) +
                           " but config.json implies " + shape_text({out, in}));
  auto q = std::make_shared<Quantized4bit>();
  q->type = info.type;
  q->blocksize = info.blocksize;
  q->dtype = info.dtype;
  q->shape = info.shape;
  q->packed = t.raw_tensor(w).reshape({-1}).contiguous();
  q->absmax = t.raw_tensor(w + ".absmax").contiguous();
  if (info.nested) {
    q->nested_absmax = t.raw_tensor(w + ".nested_absmax").to(at::kFloat).contiguous();
    q->nested_blocksize = info.nested_blocksize;
    q->offset = static_cast<float>(info.nested_offset);
  }
  if (t.contains(w + ".quant_map")) {
    at::Tensor map = t.raw_tensor(w + ".quant_map").to(at::kFloat);
    at::Tensor ours = at::from_blob(const_cast<float*>(nf4::code_table(info.type)), {16}, at::kFloat);
    if (!map.sizes().equals({16}) || !at::equal(map, ours))
      fail(code::kConfig, t.dir() + ": \"" + w + ".quant_map\" is not bitsandbytes' " + quant_type_name(info.type) +
                              " table; custom code maps are not supported");
  }
  try {
    check_quantized(*q);
  } catch (const Error& e) {
    fail(e.code(), t.dir() + ": \"" + w + "\": " + e.what());
  }
  return q;
}

Linear load_linear(const CheckpointTensors& t, const std::string& prefix, int64_t out, int64_t in, c10::Device device) {
  Linear l;
  if (t.contains(prefix + ".weight.absmax")) {
    l.quantized = load_4bit(t, prefix + ".weight", out, in);
  } else {
    l.weight = t.float_tensor(prefix + ".weight", {out, in}).to(device);
  }
  l.bias = t.float_tensor(prefix + ".bias", {out}).to(device);
  return l;
}

// bitsandbytes' llm_int8_skip_modules with PEFT's name rule: the module name itself or a suffix at a dot.
bool skipped_by(const std::vector<std::string>& skip, const std::string& module) {
  for (const auto& s : skip)
    if (module == s || ends_with(module, "." + s)) return true;
  return false;
}

// A transformer-block linear as QLoRA holds it: quantized right after it is read, so
// the whole model never sits in fp32 at once. Read on the CPU, where the quantizer runs.
Linear load_block_linear(const CheckpointTensors& t, const std::string& prefix, const std::string& module, int64_t out,
                         int64_t in, const LoadOptions& options) {
  const bool quantize = options.quantize && !skipped_by(options.quant_skip, module);
  Linear l = load_linear(t, prefix, out, in, quantize ? c10::Device(c10::kCPU) : options.device);
  if (quantize && !l.quantized) {
    l.quantized = std::make_shared<Quantized4bit>(
        quantize_4bit(l.weight, options.quant_type, options.quant_blocksize, options.double_quant));
    l.weight = at::Tensor();
  }
  l.bias = l.bias.to(options.device);
  return l;
}

// The bitsandbytes state-dict entries of a 4-bit weight named `w`.
void add_4bit_entries(NamedTensors* out, const std::string& w, const Quantized4bit& q) {
  out->emplace_back(w, q.packed.reshape({-1, 1}));
  out->emplace_back(w + ".absmax", q.absmax);
  out->emplace_back(w + ".quant_map", at::from_blob(const_cast<float*>(nf4::code_table(q.type)), {16}, at::kFloat).clone());
  if (q.double_quant()) {
    out->emplace_back(w + ".nested_absmax", q.nested_absmax);
    out->emplace_back(w + ".nested_quant_map", at::from_blob(const_cast<float*>(nf4::kDynamicMap), {256}, at::kFloat).clone());
  }
  const std::string json = quant_state_json(q);
  at::Tensor bytes = at::empty({static_cast<int64_t>(json.size())}, at::kByte);
  std::memcpy(bytes.data_ptr(), json.data(), json.size());
  out->emplace_back(w + ".quant_state." + quant_state_key_suffix(q.type), bytes);
}

LayerNorm load_layer_norm(const CheckpointTensors& t, const std::string& prefix, int64_t dim, c10::Device device) {
  return {t.float_tensor(prefix + ".weight", {dim}).to(device), t.float_tensor(prefix + ".bias", {dim}).to(device)};
}

}  // namespace

void check_token_inputs(const DistilBertConfig& c, const at::Tensor& ids, const at::Tensor& mask) {
  if (ids.dim() != 2 || ids.size(0) < 1 || ids.size(1) < 1)
    fail(code::kInvalidArgument, "Expected input ids of shape [batchSize >= 1, seqLen >= 1] but received " +
                                     std::to_string(ids.dim()) + " dimensions");
  if (!mask.sizes().equals(ids.sizes()))
    fail(code::kInvalidArgument, "Expected an attention mask with the input ids' shape but received another shape");
  if (ids.size(1) > c.max_position_embeddings)
    fail(code::kInvalidArgument, "Expected seqLen <= max_position_embeddings (" +
                                     std::to_string(c.max_position_embeddings) + ") but received " +
                                     std::to_string(ids.size(1)));
  const int64_t lo = ids.min().item<int64_t>();
  const int64_t hi = ids.max().item<int64_t>();
  if (lo < 0 || hi >= c.vocab_size)
    fail(code::kInvalidArgument, "Expected token ids in [0, " + std::to_string(c.vocab_size) + ") but received " +
                                     std::to_string(lo < 0 ? lo : hi));
}

at::Tensor LayerNorm::forward(const at::Tensor& x) const {
  return at::layer_norm(x.to(at::kFloat), {weight.size(0)}, weight, bias, kLayerNormEps);
}

std::unique_ptr<DistilBertClassifier> DistilBertClassifier::load(const std::string& dir, const LoadOptions& options) {
  std::unique_ptr<DistilBertClassifier> m(new DistilBertClassifier());
  m->config_ = load_distilbert_config(dir);
  if (!options.labels.empty()) {
    m->config_.labels = options.labels;
    m->config_.problem_type = options.problem_type;
  }
  m->device_ = options.device;
  const auto& c = m->config_;
  const CheckpointTensors t = CheckpointTensors::open(dir);
  // DistilBertForSequenceClassification / ForMaskedLM prefix the encoder with
  // "distilbert."; a bare DistilBertModel checkpoint does not.
  const bool bare = !t.contains("distilbert.embeddings.word_embeddings.weight") &&
                    t.contains("embeddings.word_embeddings.weight");
  const std::string base = bare ? "" : "distilbert.";
  const auto dev = options.device;
  m->word_embeddings = t.float_tensor(base + "embeddings.word_embeddings.weight", {c.vocab_size, c.dim}).to(dev);
  m->position_embeddings =
      t.float_tensor(base + "embeddings.position_embeddings.weight", {c.max_position_embeddings, c.dim}).to(dev);
  m->embeddings_layer_norm = load_layer_norm(t, base + "embeddings.LayerNorm", c.dim, dev);
  for (int64_t i = 0; i < c.n_layers; ++i) {
    const std::string layer = "transformer.layer." + std::to_string(i) + ".";
    const std::string p = base + layer;
    auto block_linear = [&](const std::string& name, int64_t out, int64_t in) {
      return load_block_linear(t, p + name, "distilbert." + layer + name, out, in, options);
    };
    TransformerBlock b;
    b.q_lin = block_linear("attention.q_lin", c.dim, c.dim);
    b.k_lin = block_linear("attention.k_lin", c.dim, c.dim);
    b.v_lin = block_linear("attention.v_lin", c.dim, c.dim);
    b.out_lin = block_linear("attention.out_lin", c.dim, c.dim);
    b.sa_layer_norm = load_layer_norm(t, p + "sa_layer_norm", c.dim, dev);
    b.lin1 = block_linear("ffn.lin1", c.hidden_dim, c.dim);
    b.lin2 = block_linear("ffn.lin2", c.dim, c.hidden_dim);
    b.output_layer_norm = load_layer_norm(t, p + "output_layer_norm", c.dim, dev);
    m->blocks.push_back(std::move(b));
  }
  const std::string extra_layer = base + "transformer.layer." + std::to_string(c.n_layers) + ".attention.q_lin.weight";
  if (t.contains(extra_layer))
    fail(code::kShape, dir + ": the checkpoint has more layers than n_layers = " + std::to_string(c.n_layers));
  if (options.masked_lm)
    m->mlm_ = std::make_shared<MlmHead>(MlmHead::load_or_init(t, c, dev, options.seed, &m->head_notice_));
  else
    m->load_head(t, dir, options);
  m->index_modules();
  if (options.quantize) m->check_quant_skip(options.quant_skip);
  m->set_seed(options.seed);
  m->set_precision(options.precision);
  return m;
}

// The classification head, or a fresh one where the checkpoint has none that fits.
void DistilBertClassifier::load_head(const CheckpointTensors& t, const std::string& dir, const LoadOptions& options) {
  const auto& c = config_;
  const int64_t K = c.num_labels();
  const bool present = t.contains("pre_classifier.weight") && t.contains("classifier.weight");
  std::string why;
  if (!present) {
    why = "the checkpoint has no classification head";
  } else {
    const auto& shape = t.shape_of("classifier.weight");
    if (shape.size() == 2 && shape[0] != K && options.init_missing_head)
      why = "the checkpoint's head has " + std::to_string(shape[0]) + " labels and the data has " + std::to_string(K);
  }
  if (why.empty()) {
    pre_classifier = load_linear(t, "pre_classifier", c.dim, c.dim, device_);
    classifier = load_linear(t, "classifier", K, c.dim, device_);
    return;
  }
  if (!options.init_missing_head)
    fail(code::kMissingTensor, dir + ": " + why + " (pre_classifier, classifier); Classifier needs a fine-tuned "
                                     "checkpoint: train one from this base with Trainer");
  // transformers' _init_weights for nn.Linear: weight ~ N(0, initializer_range), bias = 0.
  auto generator = at::make_generator<at::CPUGeneratorImpl>(options.seed);
  auto fresh = [&](int64_t out, int64_t in) {
    Linear l;
    l.weight = at::empty({out, in}, at::kFloat).normal_(0.0, c.initializer_range, generator).to(device_);
    l.bias = at::zeros({out}, at::kFloat).to(device_);
    return l;
  };
  pre_classifier = fresh(c.dim, c.dim);
  classifier = fresh(K, c.dim);
  head_notice_ = why + ": pre_classifier and classifier were initialised fresh (normal, std " +
                 std::to_string(c.initializer_range) + ", zero bias)";
}

void DistilBertClassifier::index_modules() {
  linears_.clear();
  for (size_t i = 0; i < blocks.size(); ++i) {
    const std::string p = "distilbert.transformer.layer." + std::to_string(i) + ".";
    auto& b = blocks[i];
    linears_[p + "attention.q_lin"] = &b.q_lin;
    linears_[p + "attention.k_lin"] = &b.k_lin;
    linears_[p + "attention.v_lin"] = &b.v_lin;
    linears_[p + "attention.out_lin"] = &b.out_lin;
    linears_[p + "ffn.lin1"] = &b.lin1;
    linears_[p + "ffn.lin2"] = &b.lin2;
  }
  if (mlm_) return;  // the MLM head's linear is not a LoRA target: it stays frozen under LoRA
  linears_["pre_classifier"] = &pre_classifier;
  linears_["classifier"] = &classifier;
}

std::vector<std::string> DistilBertClassifier::linear_names() const {
  std::vector<std::string> names;
  for (const auto& [name, l] : linears_) names.push_back(name);
  return names;
}

Linear& DistilBertClassifier::linear(const std::string& name) {
  auto it = linears_.find(name);
  if (it == linears_.end()) {
    std::string known;
    for (const auto& [n, l] : linears_) known += (known.empty() ? "" : ", ") + n;
    fail(code::kConfig, "the model has no linear module \"" + name + "\"; its linears are: " + known);
  }
  return *it->second;
}

void DistilBertClassifier::set_seed(uint64_t seed) {
  if (device_.is_cpu()) {
    generator_ = at::make_generator<at::CPUGeneratorImpl>(seed);
  } else {
    generator_ = at::globalContext().defaultGenerator(device_);
    std::lock_guard<std::mutex> lock(generator_.mutex());
    generator_.set_current_seed(seed);
  }
}

std::vector<const Linear*> DistilBertClassifier::block_linears() const {
  std::vector<const Linear*> out;
  for (const auto& b : blocks)
    for (const Linear* l : {&b.q_lin, &b.k_lin, &b.v_lin, &b.out_lin, &b.lin1, &b.lin2}) out.push_back(l);
  return out;
}

// A skip entry that names no linear is a typo the user should hear about.
void DistilBertClassifier::check_quant_skip(const std::vector<std::string>& skip) const {
  for (const auto& s : skip) {
    bool found = false;
    for (const auto& [name, linear] : linears_) found = found || skipped_by({s}, name);
    if (!found)
      fail(code::kConfig, "Expected each quantization skip entry to name linears (e.g. \"lin2\" or "
                          "\"distilbert.transformer.layer.0.ffn.lin1\") but \"" + s + "\" matches none");
  }
}

bool DistilBertClassifier::quantized() const {
  for (const Linear* l : block_linears())
    if (l->quantized) return true;
  return false;
}

std::pair<int64_t, int64_t> DistilBertClassifier::base_linear_weight_bytes_and_params() const {
  int64_t bytes = 0, params = 0;
  for (const Linear* l : block_linears()) {
    params += l->out_features() * l->in_features();
    bytes += l->quantized ? quantized_bytes(*l->quantized) : l->weight.numel() * l->weight.element_size();
  }
  return {bytes, params};
}

NamedTensors DistilBertClassifier::float_parameters() const {
  NamedTensors out;
  for (auto& [name, t] : state_dict())
    if (at::isFloatingType(t.scalar_type()) && !ends_with(name, "absmax") && !ends_with(name, "quant_map")) out.emplace_back(name, t);
  return out;
}

at::Tensor DistilBertClassifier::rng_state() const {
  std::lock_guard<std::mutex> lock(generator_.mutex());
  return generator_.get_state();
}

void DistilBertClassifier::set_rng_state(const at::Tensor& state) {
  std::lock_guard<std::mutex> lock(generator_.mutex());
  generator_.set_state(state);
}

NamedTensors DistilBertClassifier::snapshot_trainable() const {
  NamedTensors out;
  for (const auto& [name, t] : trainable_) out.emplace_back(name, t.detach().clone());
  return out;
}

void DistilBertClassifier::restore_trainable(const NamedTensors& snapshot) {
  if (snapshot.size() != trainable_.size()) fail(code::kInvalidArgument, "the snapshot does not match the trainable parameters");
  at::NoGradGuard no_grad;
  for (size_t i = 0; i < snapshot.size(); ++i) {
    if (snapshot[i].first != trainable_[i].first)
      fail(code::kInvalidArgument, "the snapshot does not match the trainable parameters");
    at::Tensor dst = trainable_[i].second;
    dst.copy_(snapshot[i].second);
  }
  set_precision(precision_);
}

void DistilBertClassifier::set_precision(Precision p) {
  precision_ = p;
  for (auto& b : blocks) {
    for (Linear* l : {&b.q_lin, &b.k_lin, &b.v_lin, &b.out_lin, &b.lin1, &b.lin2}) l->set_precision(p);
    b.qkv = Linear();
    const bool any_quantized = b.q_lin.quantized || b.k_lin.quantized || b.v_lin.quantized;
    const bool frozen = !any_quantized && !b.q_lin.weight.requires_grad() && !b.k_lin.weight.requires_grad() &&
                        !b.v_lin.weight.requires_grad() && !b.q_lin.bias.requires_grad() &&
                        !b.k_lin.bias.requires_grad() && !b.v_lin.bias.requires_grad();
    if (frozen) {
      // The attention scale 1/√D is folded into q's rows: one pass over q fewer per layer.
      const double scale = 1.0 / std::sqrt(static_cast<double>(config_.head_dim()));
      b.qkv.weight = at::cat({b.q_lin.weight * scale, b.k_lin.weight, b.v_lin.weight}, 0);
      b.qkv.bias = at::cat({b.q_lin.bias * scale, b.k_lin.bias, b.v_lin.bias}, 0);
      b.qkv.set_precision(p);
    }
  }
  // The head is tiny and its output is the result: it stays fp32.
}

int64_t DistilBertClassifier::parameter_count() const {
  int64_t n = 0;
  for (const auto& [name, t] : float_parameters()) n += t.numel();
  for (const auto& b : blocks)
    for (const Linear* l : {&b.q_lin, &b.k_lin, &b.v_lin, &b.out_lin, &b.lin1, &b.lin2})
      if (l->quantized) n += l->quantized->numel();
  return n;
}

NamedTensors DistilBertClassifier::state_dict() const {
  NamedTensors out;
  const std::string e = "distilbert.embeddings.";
  out.emplace_back(e + "word_embeddings.weight", word_embeddings);
  out.emplace_back(e + "position_embeddings.weight", position_embeddings);
  out.emplace_back(e + "LayerNorm.weight", embeddings_layer_norm.weight);
  out.emplace_back(e + "LayerNorm.bias", embeddings_layer_norm.bias);
  for (size_t i = 0; i < blocks.size(); ++i) {
    const std::string p = "distilbert.transformer.layer." + std::to_string(i) + ".";
    const auto& b = blocks[i];
    auto add_linear = [&](const std::string& name, const Linear& l) {
      if (l.quantized) add_4bit_entries(&out, p + name + ".weight", *l.quantized);
      else out.emplace_back(p + name + ".weight", l.weight);
      out.emplace_back(p + name + ".bias", l.bias);
    };
    add_linear("attention.q_lin", b.q_lin);
    add_linear("attention.k_lin", b.k_lin);
    add_linear("attention.v_lin", b.v_lin);
    add_linear("attention.out_lin", b.out_lin);
    out.emplace_back(p + "sa_layer_norm.weight", b.sa_layer_norm.weight);
    out.emplace_back(p + "sa_layer_norm.bias", b.sa_layer_norm.bias);
    add_linear("ffn.lin1", b.lin1);
    add_linear("ffn.lin2", b.lin2);
    out.emplace_back(p + "output_layer_norm.weight", b.output_layer_norm.weight);
    out.emplace_back(p + "output_layer_norm.bias", b.output_layer_norm.bias);
  }
  if (mlm_) {
    mlm_->append_state(&out);
    return out;
  }
  out.emplace_back("pre_classifier.weight", pre_classifier.weight);
  out.emplace_back("pre_classifier.bias", pre_classifier.bias);
  out.emplace_back("classifier.weight", classifier.weight);
  out.emplace_back("classifier.bias", classifier.bias);
  return out;
}

void DistilBertClassifier::enable_full_finetune() {
  if (has_lora()) fail(code::kInvalidArgument, "Expected a model without LoRA adapters for full fine-tuning");
  if (quantized()) fail(code::kInvalidArgument, "Expected a full-precision model for full fine-tuning: 4-bit weights train only through LoRA (QLoRA)");
  trainable_.clear();
  for (auto& [name, t] : state_dict()) {
    at::Tensor param = t;
    param.requires_grad_(true);
    trainable_.emplace_back(name, param);
  }
  set_precision(precision_);
}

void DistilBertClassifier::attach_lora(const LoraSpec& spec, uint64_t seed) {
  if (has_lora()) fail(code::kInvalidArgument, "Expected a model without LoRA adapters but it already has some");
  if (spec.modules.empty()) fail(code::kConfig, "LoRA targets no module: target_modules matched none of the model's linears");
  for (const auto& m : spec.modules) linear(m.module);  // unknown names fail before anything changes
  auto init_generator = at::make_generator<at::CPUGeneratorImpl>(seed);
  for (const auto& m : spec.modules) {
    Linear& l = linear(m.module);
    auto adapter = std::make_shared<LoraAdapter>(
        make_lora_adapter(l.in_features(), l.out_features(), m, spec, init_generator, l.bias.options()));
    adapter->A.requires_grad_(true);
    adapter->B.requires_grad_(true);
    l.lora = adapter;
    lora_modules_.push_back(m.module);
  }
  // Trainable set in model order, named as PEFT saves them.
  // PEFT matches modules_to_save with plain str.endswith: "classifier" also saves "pre_classifier".
  auto saved = [&](const std::string& module) {
    for (const auto& s : spec.modules_to_save)
      if (ends_with(module, s) && linears_.count(module)) return true;
    return false;
  };
  trainable_.clear();
  for (const auto& [name, tensor] : float_parameters()) {
    const bool is_bias = ends_with(name, ".bias");
    const std::string module = name.substr(0, name.rfind('.'));
    const bool adapted = linears_.count(module) && linears_.at(module)->lora;
    bool train = saved(module) || (is_bias && (spec.bias == "all" || (spec.bias == "lora_only" && adapted)));
    if (train) {
      at::Tensor param = tensor;
      param.requires_grad_(true);
      trainable_.emplace_back(kPeftPrefix + name, param);
    }
    if (adapted && is_bias) {
      const auto& adapter = linears_.at(module)->lora;
      trainable_.emplace_back(kPeftPrefix + module + ".lora_A.weight", adapter->A);
      trainable_.emplace_back(kPeftPrefix + module + ".lora_B.weight", adapter->B);
    }
  }
  set_precision(precision_);
}

void DistilBertClassifier::load_adapter_weights(const std::string& path) {
  auto file = SafetensorsFile::open(path);
  std::map<std::string, at::Tensor> params;
  for (auto& [name, t] : float_parameters()) params[name] = t;
  std::map<std::string, int> seen_lora;
  for (const auto& entry : file->entries()) {
    const std::string& key = entry.name;
    std::string name = peft_parameter_name(key);
    for (const char* part : {".lora_A.weight", ".lora_B.weight"}) {
      if (!ends_with(name, part)) continue;
      const std::string module = name.substr(0, name.size() - std::string(part).size());
      auto it = linears_.find(module);
      if (it == linears_.end() || !it->second->lora)
        fail(code::kConfig, path + ": \"" + key + "\" adapts " + module + ", which adapter_config.json does not target");
      at::Tensor& dst = std::string(part) == ".lora_A.weight" ? it->second->lora->A : it->second->lora->B;
      copy_checked(dst, file->tensor(key), path, key);
      seen_lora[key]++;
      name.clear();
    }
    if (name.empty()) continue;
    auto it = params.find(name);
    if (it == params.end())
      fail(code::kConfig, path + ": \"" + key + "\" names no parameter of the model");
    copy_checked(it->second, file->tensor(key), path, key);
  }
  for (const auto& module : lora_modules_)
    for (const char* part : {".lora_A.weight", ".lora_B.weight"})
      if (!seen_lora.count(kPeftPrefix + module + part))
        fail(code::kMissingTensor, path + ": the adapter has no \"" + kPeftPrefix + module + part + "\"");
  set_precision(precision_);  // cached low-precision copies must see the new head/bias values
}

void DistilBertClassifier::merge_lora() {
  if (merged_) return;
  at::NoGradGuard no_grad;
  for (const auto& module : lora_modules_) {
    Linear& l = linear(module);
    at::Tensor delta = at::matmul(l.lora->B, l.lora->A) * l.lora->scale;
    if (l.quantized) {
      // 4-bit base: dequantize, add, re-quantize (rounds again); unmerge restores the exact codes.
      const Quantized4bit& q = *l.quantized;
      at::Tensor merged = (l.float_weight() + delta).to(at::kCPU);
      l.before_merge = l.quantized;
      l.quantized = std::make_shared<Quantized4bit>(quantize_4bit(merged, q.type, q.blocksize, q.double_quant()));
    } else {
      l.weight.add_(delta);
    }
    l.lora->merged = true;
  }
  merged_ = true;
  set_precision(precision_);
}

void DistilBertClassifier::unmerge_lora() {
  if (!merged_) return;
  at::NoGradGuard no_grad;
  for (const auto& module : lora_modules_) {
    Linear& l = linear(module);
    if (l.quantized) {
      l.quantized = l.before_merge;
      l.before_merge.reset();
    } else {
      l.weight.sub_(at::matmul(l.lora->B, l.lora->A), l.lora->scale);
    }
    l.lora->merged = false;
  }
  merged_ = false;
  set_precision(precision_);
}

// x = dropout(LayerNorm(word[ids] + pos[0..T-1]))
at::Tensor DistilBertClassifier::embed(const at::Tensor& input_ids, const ForwardContext& ctx) const {
  const int64_t T = input_ids.size(1);
  at::Tensor words = at::embedding(word_embeddings, input_ids);  // [B,T,C]
  at::Tensor positions = position_embeddings.narrow(0, 0, T);     // [T,C]
  return dropout(embeddings_layer_norm.forward(words + positions), config_.dropout, ctx.train, ctx.generator);
}

// softmax((q/√D)·kᵀ masked) · v. x: [B,T,C] -> [B,T,C] (compute dtype), before out_lin
at::Tensor DistilBertClassifier::attention(const TransformerBlock& b, const at::Tensor& x, const at::Tensor& key_mask,
                                           const ForwardContext& ctx) const {
  const int64_t B = x.size(0), T = x.size(1), H = config_.n_heads, D = config_.head_dim();
  const double scale = 1.0 / std::sqrt(static_cast<double>(D));
  at::Tensor q, k, v;
  if (b.qkv.weight.defined()) {
    // One [3C, C] matmul for the frozen bases (q already scaled by 1/√D); LoRA
    // updates are added per projection.
    std::vector<at::Tensor> parts = b.qkv.base_forward(x).chunk(3, -1);
    q = parts[0], k = parts[1], v = parts[2];
    if (b.q_lin.lora && !b.q_lin.lora->merged)
      q = q + b.q_lin.lora->delta(x.to(q.scalar_type()), ctx.train, ctx.generator, scale);
    if (b.k_lin.lora && !b.k_lin.lora->merged) k = k + b.k_lin.lora->delta(x.to(k.scalar_type()), ctx.train, ctx.generator);
    if (b.v_lin.lora && !b.v_lin.lora->merged) v = v + b.v_lin.lora->delta(x.to(v.scalar_type()), ctx.train, ctx.generator);
  } else {
    q = b.q_lin.forward(x, ctx) * scale;
    k = b.k_lin.forward(x, ctx);
    v = b.v_lin.forward(x, ctx);
  }
  auto heads = [&](const at::Tensor& t) { return t.reshape({B, T, H, D}).transpose(1, 2); };  // [B,H,T,D]
  q = heads(q);
  k = heads(k);
  v = heads(v);
  // Scores stay in the compute dtype, as under autocast: masked with that dtype's
  // minimum (finfo(dtype).min, as transformers), softmax accumulating in fp32 inside.
  at::Tensor scores = at::matmul(q, k.transpose(-1, -2));  // [B,H,T,T]
  if (ctx.grad && scores.is_cpu() && scores.scalar_type() != at::kHalf) {  // training: mask, softmax and dropout fused, one pass each way
    at::Tensor weights = masked_softmax_dropout(scores, key_mask, ctx.train ? config_.attention_dropout : 0.0, ctx.generator);
    return at::matmul(weights, v).transpose(1, 2).reshape({B, T, H * D});
  }
  const c10::Scalar lowest = scores.scalar_type() == at::kFloat ? c10::Scalar(std::numeric_limits<float>::lowest())
                            : scores.scalar_type() == at::kBFloat16 ? c10::Scalar(-3.3895313892515355e38)
                                                                   : c10::Scalar(-65504.0);
  scores.masked_fill_(key_mask, lowest);
  at::Tensor weights = dropout(at::softmax(scores, -1), config_.attention_dropout, ctx.train, ctx.generator);
  return at::matmul(weights, v).transpose(1, 2).reshape({B, T, H * D});  // [B,T,C], before out_lin
}

// x = LN_out(FFN(s) + s) with s = LN_sa(attn(x) + x); FFN = dropout(lin2(act(lin1(s))))
at::Tensor DistilBertClassifier::block(const TransformerBlock& b, const at::Tensor& x, const at::Tensor& key_mask,
                                       const ForwardContext& ctx, at::Tensor* x_lowp) const {
  const auto dt = compute_dtype(precision_);
  if (ctx.grad && x.is_cpu() && dt != at::kHalf) {
    // Training on the CPU: residual (+ dropout) + LayerNorm fused with their backward
    // (train_fused.h); in bf16 each LayerNorm also hands the next matmul its input in bf16.
    const bool lowp = dt == at::kBFloat16 && x_lowp;
    at::Tensor context = attention(b, lowp && x_lowp->defined() ? *x_lowp : x, key_mask, ctx);
    auto [s, s16] = residual_dropout_layer_norm(b.out_lin.forward(context, ctx), x, b.sa_layer_norm.weight,
                                                b.sa_layer_norm.bias, kLayerNormEps, 0.0, ctx.generator, lowp);
    at::Tensor h;
    if (config_.activation != "relu" && !b.lin1.quantized && b.lin1.bias.defined())
      h = bias_gelu(b.lin1.forward_without_bias(lowp ? s16 : s, ctx), b.lin1.bias);  // fused bias + GELU
    else
      h = config_.activation == "relu" ? at::relu(b.lin1.forward(lowp ? s16 : s, ctx)) : at::gelu(b.lin1.forward(lowp ? s16 : s, ctx));
    auto [out, out16] = residual_dropout_layer_norm(b.lin2.forward(h, ctx), s, b.output_layer_norm.weight,
                                                    b.output_layer_norm.bias, kLayerNormEps,
                                                    ctx.train ? config_.dropout : 0.0, ctx.generator, lowp);
    if (lowp) *x_lowp = out16;
    return out;
  }
  const bool fused = ctx.fused && !b.out_lin.quantized && !b.lin2.quantized;
  // In bf16 the fused LayerNorm also hands over its output rounded to bf16, so
  // the next matmul's input needs no conversion pass of its own.
  const bool lowp = fused && x_lowp && compute_dtype(precision_) == at::kBFloat16;
  at::Tensor context = attention(b, lowp && x_lowp->defined() ? *x_lowp : x, key_mask, ctx);
  at::Tensor s_lowp;
  at::Tensor s = fused ? residual_layer_norm(x, b.out_lin.forward_without_bias(context, ctx), b.out_lin.bias,
                                             b.sa_layer_norm.weight, b.sa_layer_norm.bias, kLayerNormEps,
                                             lowp ? &s_lowp : nullptr)
                       : b.sa_layer_norm.forward(b.out_lin.forward(context, ctx).to(at::kFloat) + x);
  at::Tensor h = b.lin1.forward(lowp ? s_lowp : s, ctx);
  // exact erf GELU; in place when no autograd needs its input
  if (config_.activation == "relu") h = at::relu_(h);
  else h = fused ? at::gelu_out(h, h) : at::gelu(h);
  if (fused)
    return residual_layer_norm(s, b.lin2.forward_without_bias(h, ctx), b.lin2.bias, b.output_layer_norm.weight,
                               b.output_layer_norm.bias, kLayerNormEps, lowp ? x_lowp : nullptr);
  at::Tensor f = dropout(b.lin2.forward(h, ctx).to(at::kFloat), config_.dropout, ctx.train, ctx.generator);
  return b.output_layer_norm.forward(f + s);
}

// hidden[:, 0] -> pre_classifier -> ReLU -> dropout -> classifier (then the risk head, when attached)
at::Tensor DistilBertClassifier::head(const at::Tensor& hidden, const ForwardContext& ctx, const RiskInputs& risk) const {
  at::Tensor pooled = hidden.select(1, 0);
  const auto dt = compute_dtype(precision_);
  at::Tensor h, z;
  if (ctx.grad && dt != at::kFloat) {
    // Training in bf16/fp16: the head's matmuls too, as autocast runs them. An fp32
    // GEMM here would wake OpenBLAS's own thread pool, whose spinning threads then
    // compete with the OpenMP threads of every following bf16 matmul.
    auto lowp = [&](const Linear& l, const at::Tensor& x) { return at::linear(x.to(dt), l.weight.to(dt), l.bias.to(dt)); };
    h = dropout(at::relu(lowp(pre_classifier, pooled)), config_.seq_classif_dropout, ctx.train, ctx.generator);
    z = lowp(classifier, h);
  } else {
    h = dropout(at::relu(pre_classifier.forward(pooled, ctx)), config_.seq_classif_dropout, ctx.train, ctx.generator);
    z = classifier.forward(h, ctx);
  }
  // --- risk head hook (risk_head.h) ---
  if (risk_head_) return risk_head_->forward(h, z, risk, ctx.train, config_.seq_classif_dropout, ctx.generator);
  check_no_risk_inputs(risk);
  // --- end risk head ---
  return z;
}

void DistilBertClassifier::attach_risk_head(std::shared_ptr<RiskHead> head) {
  if (risk_head_) fail(code::kInvalidArgument, "Expected a model without a risk head but it already has one");
  for (const auto& [name, t] : head->parameters()) trainable_.emplace_back(name, t);
  risk_head_ = std::move(head);
}

ForwardOutputs DistilBertClassifier::forward(const at::Tensor& input_ids, const at::Tensor& attention_mask,
                                             const ForwardOptions& options) const {
  c10::optional<c10::InferenceMode> inference;
  if (!options.grad) inference.emplace();
  at::AutoGradMode grad_mode(options.grad);
  at::Tensor ids = input_ids.to(device_, at::kLong);
  at::Tensor mask = attention_mask.to(device_);
  check_token_inputs(config_, ids, mask);
  ForwardContext ctx;
  ctx.train = options.train;
  if (options.train) ctx.generator = generator_;
  ctx.fused = !options.grad && !options.train && device_.is_cpu();
  ctx.grad = options.grad;
  // Only keys are masked; a mask value counts as "attend" whenever it is non-zero.
  at::Tensor key_mask = (mask == 0).view({ids.size(0), 1, 1, ids.size(1)});
  ForwardOutputs out;
  at::Tensor x = embed(ids, ctx);
  if (options.want_hidden) out.hidden_states.push_back(x);
  at::Tensor x_lowp;  // x in bf16, carried between fused blocks
  for (const auto& b : blocks) {
    x = block(b, x, key_mask, ctx, &x_lowp);
    if (options.want_hidden) out.hidden_states.push_back(x);
  }
  if (options.want_hidden || mlm_) out.last_hidden_state = x;
  if (mlm_) return out;  // the MLM head runs in masked_lm_forward, at the positions it needs
  out.logits = head(x, ctx, options.risk).to(at::kFloat);
  return out;
}

}  // namespace lora
