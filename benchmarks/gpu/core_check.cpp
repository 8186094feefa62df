// The native core on one device against the golden fixtures (test/fixtures/tiny),
// without Node: the GPU machine has no Node, so this is how CUDA training is checked.
//   core_check <repo root> <cpu | cuda>
// For LoRA on the fp32 checkpoint and for QLoRA (NF4 quantized on load, dequantized
// by the CUDA kernels on a GPU): logits and loss within 1e-4 of the reference and
// every gradient within 1e-3 relative to its max |value| (looser than the CPU
// tests' 1e-5 / 1e-4: GPU reductions run in another order). Then bf16 and fp16
// logits within 5e-2 of fp32, ten plain SGD steps that must lower the loss, and the
// training loop (AdamW, warmup, clipping) on a QLoRA model with dropout off, whose
// loss at every step must match the same run on the CPU within 1e-3 relative.
// Prints one line per check and exits 1 if any fails. Built by run.sh
// (-DLORA_NODE_BUILD_GPU_CHECK=ON); runs on the CPU too, which checks the check.
#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <torch/csrc/autograd/autograd.h>

#include <nlohmann/json.hpp>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/distilbert.h"
#include "core/loss.h"
#include "core/safetensors.h"
#include "core/token_dataset.h"
#include "core/train_loop.h"

namespace {

int failures = 0;

void report(bool ok, const std::string& what, double value, double limit) {
  std::printf("%-4s %-58s %.3g (limit %.3g)\n", ok ? "ok" : "FAIL", what.c_str(), value, limit);
  if (!ok) ++failures;
}

double max_abs(const at::Tensor& t) { return t.abs().max().item<double>(); }

struct Golden {
  std::shared_ptr<lora::SafetensorsFile> file;
  at::Tensor get(const std::string& name) const { return file->tensor(name); }
};

lora::LoraSpec golden_lora_spec() {
  lora::LoraSpec spec;
  for (int layer = 0; layer < 2; ++layer)
    for (const char* lin : {"q_lin", "v_lin"})
      spec.modules.push_back({"distilbert.transformer.layer." + std::to_string(layer) + ".attention." + lin, 4, 8.0});
  spec.dropout = 0.1;  // inactive: the reference has dropout_applied false and so do we (train = false)
  spec.modules_to_save = {"pre_classifier", "classifier"};
  return spec;
}

// The tiny checkpoint on `device` (4-bit when `quantize`), with LoRA on q_lin and v_lin:
// the golden adapter's weights, or PEFT's initialisation when `adapter` is false.
std::unique_ptr<lora::DistilBertClassifier> load_tiny(const std::string& root, const c10::Device& device, bool quantize, bool adapter) {
  const std::string fixtures = root + "/test/fixtures/tiny";
  lora::LoadOptions options;
  options.device = device;
  options.quantize = quantize;
  auto model = lora::DistilBertClassifier::load(fixtures + "/checkpoint", options);
  model->attach_lora(golden_lora_spec(), 1);
  if (adapter) model->load_adapter_weights(fixtures + "/lora_adapter/adapter_model.safetensors");
  return model;
}

// Loads the tiny checkpoint with the golden adapter on `device`; forward with grad on
// the padded batch, CE loss, backward. Compares with the reference entries `prefix`.*.
void check_against_golden(const std::string& root, const Golden& g, const c10::Device& device, bool quantize,
                          const std::string& prefix) {
  auto model = load_tiny(root, device, quantize, true);

  lora::ForwardOptions fo;
  fo.grad = true;
  auto out = model->forward(g.get("padded.input_ids").to(device), g.get("padded.attention_mask").to(device), fo);
  at::Tensor loss = lora::classification_loss(out.logits, g.get("padded.labels").to(device), {});
  torch::autograd::backward({loss});

  const std::string tag = (quantize ? "QLoRA nf4" : "LoRA fp32") + std::string(" on ") + device.str();
  const double logits_diff = max_abs(out.logits.cpu() - g.get(prefix + ".logits"));
  report(logits_diff < 1e-4, tag + ": logits vs reference", logits_diff, 1e-4);
  const double loss_diff = std::abs(loss.item<double>() - g.get(prefix + ".loss").item<double>());
  report(loss_diff < 1e-4, tag + ": loss vs reference", loss_diff, 1e-4);
  double worst = 0;
  std::string worst_name = "none";
  int checked = 0;
  for (const auto& [name, param] : model->trainable()) {
    at::Tensor expected = g.get(prefix + ".grad." + name);
    const double rel = param.grad().defined() ? max_abs(param.grad().cpu() - expected) / max_abs(expected) : 1e9;
    if (rel >= worst) worst = rel, worst_name = name;
    ++checked;
  }
  report(checked == 12 && worst < 1e-3, tag + ": worst of " + std::to_string(checked) + " gradients", worst, 1e-3);
  std::printf("     (worst: %s)\n", worst_name.c_str());
}

// bf16 / fp16 compute on `device` against fp32 logits (LoRA adapter, QLoRA base).
void check_low_precision(const std::string& root, const Golden& g, const c10::Device& device, lora::Precision precision) {
  auto model = load_tiny(root, device, true, true);
  model->set_precision(precision);
  auto out = model->forward(g.get("padded.input_ids").to(device), g.get("padded.attention_mask").to(device), {});
  const double diff = max_abs(out.logits.cpu().to(at::kFloat) - g.get("qlora.logits"));
  report(diff < 5e-2, std::string("QLoRA ") + lora::precision_name(precision) + " on " + device.str() + ": logits vs fp32 reference", diff, 5e-2);
}

// Plain SGD on the trainable parameters for ten steps on one batch (train mode,
// dropout on): the loss must fall. Exercises backward through the 4-bit linears.
void check_training(const std::string& root, const Golden& g, const c10::Device& device) {
  auto model = load_tiny(root, device, true, false);
  at::Tensor ids = g.get("padded.input_ids").to(device), mask = g.get("padded.attention_mask").to(device);
  at::Tensor labels = g.get("padded.labels").to(device);
  lora::ForwardOptions fo;
  fo.grad = true;
  fo.train = true;
  double first = 0, last = 0;
  for (int step = 0; step < 10; ++step) {
    at::Tensor loss = lora::classification_loss(model->forward(ids, mask, fo).logits, labels, {});
    for (const auto& [name, p] : model->trainable())
      if (p.grad().defined()) p.grad().zero_();
    torch::autograd::backward({loss});
    {
      at::NoGradGuard no_grad;
      for (const auto& [name, p] : model->trainable()) p.add_(p.grad(), -0.5);
    }
    (step == 0 ? first : last) = loss.item<double>();
  }
  report(last < first * 0.9, "QLoRA training on " + device.str() + ": loss after 10 SGD steps / before", last / first, 0.9);
}

// A copy of the tiny checkpoint with every dropout at 0, so that runs on two devices
// (whose dropout generators differ) see the same computation.
std::string dropout_free_checkpoint(const std::string& root) {
  namespace fs = std::filesystem;
  const fs::path from = fs::path(root) / "test/fixtures/tiny/checkpoint";
  const fs::path to = fs::temp_directory_path() / "lora-node-core-check-checkpoint";
  fs::remove_all(to);
  fs::copy(from, to, fs::copy_options::recursive);
  nlohmann::json config = nlohmann::json::parse(std::ifstream(from / "config.json"));
  for (const char* key : {"dropout", "attention_dropout", "seq_classif_dropout", "qa_dropout"}) config[key] = 0.0;
  std::ofstream(to / "config.json") << config.dump(2);
  return to.string();
}

// The loss of every optimizer step of a short QLoRA run (TrainLoop: AdamW, warmup, clipping).
std::vector<double> train_loop_losses(const std::string& checkpoint, const Golden& g, const c10::Device& device) {
  lora::LoadOptions options;
  options.device = device;
  options.quantize = true;
  std::shared_ptr<lora::DistilBertClassifier> model = lora::DistilBertClassifier::load(checkpoint, options);
  lora::LoraSpec spec = golden_lora_spec();
  spec.dropout = 0.0;
  model->attach_lora(spec, 7);
  // The golden batch without its padding, four times over: 16 examples.
  at::Tensor ids = g.get("padded.input_ids"), mask = g.get("padded.attention_mask"), labels = g.get("padded.labels");
  std::vector<int32_t> flat;
  std::vector<int64_t> offsets{0};
  std::vector<int64_t> label_ids;
  for (int copy = 0; copy < 4; ++copy) {
    for (int64_t b = 0; b < ids.size(0); ++b) {
      for (int64_t t = 0; t < ids.size(1); ++t)
        if (mask[b][t].item<int64_t>()) flat.push_back(static_cast<int32_t>(ids[b][t].item<int64_t>()));
      offsets.push_back(static_cast<int64_t>(flat.size()));
      label_ids.push_back(labels[b].item<int64_t>());
    }
  }
  auto data = std::make_shared<lora::TokenDataset>(flat, offsets, at::tensor(label_ids, at::kLong), model->config().pad_token_id);
  lora::TrainConfig config;
  config.epochs = 3;
  config.batch_size = 4;
  config.learning_rate = 3e-3;
  config.weight_decay = 0.01;
  config.warmup_ratio = 0.1;
  config.seed = 7;
  lora::TrainLoop loop(model, data, config);
  std::vector<double> losses;
  std::atomic<bool> abort{false};
  loop.run(loop.total_steps(), abort, [&](const lora::StepReport& r) { losses.push_back(r.loss); });
  return losses;
}

void check_train_loop(const std::string& root, const Golden& g, const c10::Device& device) {
  const std::string checkpoint = dropout_free_checkpoint(root);
  const std::vector<double> cpu = train_loop_losses(checkpoint, g, c10::Device("cpu"));
  const std::vector<double> here = train_loop_losses(checkpoint, g, device);
  double worst = cpu.size() == here.size() && !cpu.empty() ? 0 : 1e9;
  for (size_t i = 0; i < std::min(cpu.size(), here.size()); ++i) worst = std::max(worst, std::abs(here[i] - cpu[i]) / std::abs(cpu[i]));
  const std::string tag = "QLoRA TrainLoop on " + device.str();
  report(worst < 1e-3, tag + ": " + std::to_string(here.size()) + " step losses vs the CPU run", worst, 1e-3);
  report(!here.empty() && here.back() < here.front() * 0.9, tag + ": last / first step loss", here.empty() ? 1e9 : here.back() / here.front(), 0.9);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: core_check <repo root> <cpu | cuda>\n");
    return 2;
  }
  const std::string root = argv[1];
  const c10::Device device(std::string(argv[2]) == "cuda" ? "cuda:0" : "cpu");
  try {
    Golden g{lora::SafetensorsFile::open(root + "/test/fixtures/tiny/golden.safetensors")};
    check_against_golden(root, g, device, false, "lora");
    check_against_golden(root, g, device, true, "qlora");
    check_low_precision(root, g, device, lora::Precision::BF16);
    if (device.is_cuda()) check_low_precision(root, g, device, lora::Precision::FP16);  // no fp16 on the CPU path
    check_training(root, g, device);
    check_train_loop(root, g, device);
  } catch (const std::exception& e) {
    std::printf("FAIL exception: %s\n", e.what());
    return 1;
  }
  std::printf("%s: %d failed\n", failures ? "FAILED" : "PASSED", failures);
  return failures ? 1 : 0;
}
