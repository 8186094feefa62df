// Training speed and memory of the native core on one device, without Node: LoRA
// and QLoRA (NF4) on a DistilBERT-base-shaped checkpoint with random weights, r=8 on
// q_lin and v_lin, batch 16 x 128 tokens, AdamW through the real TrainLoop, in fp32
// and bf16. Writes that checkpoint (HF names, so peft_bench.py can load the same one).
//   core_bench <work dir> <cpu | cuda> [timed steps = 20]
// Prints a markdown table: ms per step (median of the timed steps, after 2 warm-up
// steps), samples/s, bytes held by the base linear weights, and the peak memory the
// CUDA caching allocator handed out (CUDA builds of libtorch only).
#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <thread>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/distilbert.h"
#include "core/safetensors.h"
#include "core/token_dataset.h"
#include "core/train_loop.h"

#ifdef LORA_NODE_WITH_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#endif

namespace {

constexpr int64_t kDim = 768, kHidden = 3072, kLayers = 6, kHeads = 12, kVocab = 30522, kLabels = 2;
constexpr int64_t kBatch = 16, kSeq = 128, kWarmup = 2;

// distilbert-base-uncased's shape with transformers' initialisation (normal 0.02, zero
// bias, LayerNorm 1/0), as DistilBertForSequenceClassification saves it.
std::string write_base_checkpoint(const std::filesystem::path& dir) {
  std::filesystem::create_directories(dir);
  at::manual_seed(0);
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  auto linear = [&](const std::string& name, int64_t out, int64_t in) {
    tensors.push_back({name + ".weight", at::randn({out, in}) * 0.02});
    tensors.push_back({name + ".bias", at::zeros({out})});
  };
  auto norm = [&](const std::string& name) {
    tensors.push_back({name + ".weight", at::ones({kDim})});
    tensors.push_back({name + ".bias", at::zeros({kDim})});
  };
  tensors.push_back({"distilbert.embeddings.word_embeddings.weight", at::randn({kVocab, kDim}) * 0.02});
  tensors.push_back({"distilbert.embeddings.position_embeddings.weight", at::randn({512, kDim}) * 0.02});
  norm("distilbert.embeddings.LayerNorm");
  for (int64_t l = 0; l < kLayers; ++l) {
    const std::string p = "distilbert.transformer.layer." + std::to_string(l) + ".";
    for (const char* lin : {"q_lin", "k_lin", "v_lin", "out_lin"}) linear(p + "attention." + lin, kDim, kDim);
    norm(p + "sa_layer_norm");
    linear(p + "ffn.lin1", kHidden, kDim);
    linear(p + "ffn.lin2", kDim, kHidden);
    norm(p + "output_layer_norm");
  }
  linear("pre_classifier", kDim, kDim);
  linear("classifier", kLabels, kDim);
  lora::write_safetensors((dir / "model.safetensors").string(), tensors, {{"format", "pt"}});
  std::ofstream(dir / "config.json") << R"({
  "architectures": ["DistilBertForSequenceClassification"], "model_type": "distilbert",
  "activation": "gelu", "dim": 768, "hidden_dim": 3072, "n_layers": 6, "n_heads": 12,
  "vocab_size": 30522, "max_position_embeddings": 512, "sinusoidal_pos_embds": false,
  "dropout": 0.1, "attention_dropout": 0.1, "seq_classif_dropout": 0.2, "qa_dropout": 0.1,
  "initializer_range": 0.02, "pad_token_id": 0,
  "id2label": {"0": "LABEL_0", "1": "LABEL_1"}, "label2id": {"LABEL_0": 0, "LABEL_1": 1},
  "problem_type": "single_label_classification", "torch_dtype": "float32"
})";
  return dir.string();
}

// Random token sequences of exactly kSeq tokens ([CLS] ... [SEP]), labels 0/1.
std::shared_ptr<lora::TokenDataset> random_dataset(int64_t examples) {
  at::manual_seed(1);
  at::Tensor ids = at::randint(1000, kVocab, {examples, kSeq}, at::kLong);
  std::vector<int32_t> flat;
  std::vector<int64_t> offsets{0};
  for (int64_t e = 0; e < examples; ++e) {
    for (int64_t t = 0; t < kSeq; ++t)
      flat.push_back(t == 0 ? 101 : t == kSeq - 1 ? 102 : static_cast<int32_t>(ids[e][t].item<int64_t>()));
    offsets.push_back(static_cast<int64_t>(flat.size()));
  }
  return std::make_shared<lora::TokenDataset>(flat, offsets, at::randint(0, kLabels, {examples}, at::kLong), 0);
}

struct Row {
  std::string name;
  double ms = 0, samples_per_s = 0, weight_mib = 0, bytes_per_param = 0, peak_mib = -1;
};

Row run(const std::string& checkpoint, const c10::Device& device, bool quantize, lora::Precision precision, int64_t steps) {
  lora::LoadOptions options;
  options.device = device;
  options.quantize = quantize;
  std::shared_ptr<lora::DistilBertClassifier> model = lora::DistilBertClassifier::load(checkpoint, options);
  lora::LoraSpec spec;
  for (int64_t l = 0; l < kLayers; ++l)
    for (const char* lin : {"q_lin", "v_lin"})
      spec.modules.push_back({"distilbert.transformer.layer." + std::to_string(l) + ".attention." + lin, 8, 16.0});
  spec.dropout = 0.1;
  spec.modules_to_save = {"pre_classifier", "classifier"};
  model->attach_lora(spec, 7);
  model->set_precision(precision);

  lora::TrainConfig config;
  config.epochs = 1;
  config.batch_size = kBatch;
  config.learning_rate = 2e-4;
  config.weight_decay = 0.01;
  lora::TrainLoop loop(model, random_dataset(kBatch * (kWarmup + steps)), config);
#ifdef LORA_NODE_WITH_CUDA
  if (device.is_cuda()) c10::cuda::CUDACachingAllocator::resetPeakStats(device.index());
#endif
  std::vector<double> ms;
  auto last = std::chrono::steady_clock::now();
  std::atomic<bool> abort{false};
  // StepReport.loss is read back from the device, so each step has finished when it arrives.
  loop.run(loop.total_steps(), abort, [&](const lora::StepReport&) {
    const auto now = std::chrono::steady_clock::now();
    ms.push_back(std::chrono::duration<double, std::milli>(now - last).count());
    last = now;
  });
  Row row;
  row.name = std::string(quantize ? "QLoRA NF4" : "LoRA") + ", " + lora::precision_name(precision);
  std::vector<double> timed(ms.begin() + std::min<size_t>(kWarmup, ms.size()), ms.end());
  std::sort(timed.begin(), timed.end());
  row.ms = timed.empty() ? 0 : timed[timed.size() / 2];
  row.samples_per_s = row.ms > 0 ? kBatch * 1000.0 / row.ms : 0;
  const auto [bytes, params] = model->base_linear_weight_bytes_and_params();
  row.weight_mib = bytes / 1048576.0;
  row.bytes_per_param = static_cast<double>(bytes) / static_cast<double>(params);
#ifdef LORA_NODE_WITH_CUDA
  if (device.is_cuda())
    row.peak_mib = c10::cuda::CUDACachingAllocator::getDeviceStats(device.index()).allocated_bytes[0].peak / 1048576.0;
#endif
  return row;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3 || argc > 4) {
    std::fprintf(stderr, "usage: core_bench <work dir> <cpu | cuda> [timed steps]\n");
    return 2;
  }
  const c10::Device device(std::string(argv[2]) == "cuda" ? "cuda:0" : "cpu");
  const int64_t steps = argc == 4 ? std::max(1, std::atoi(argv[3])) : 20;
  at::set_num_threads(static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));  // libtorch may start with 1
  try {
    const std::string checkpoint = write_base_checkpoint(std::filesystem::path(argv[1]) / "distilbert-base-random");
    std::printf("checkpoint: %s\n", checkpoint.c_str());
    std::printf("DistilBERT-base shape, LoRA r=8 on q_lin+v_lin (+ head), batch %lld x %lld, AdamW, on %s; "
                "median of %lld steps after %lld warm-up\n\n",
                static_cast<long long>(kBatch), static_cast<long long>(kSeq), device.str().c_str(),
                static_cast<long long>(steps), static_cast<long long>(kWarmup));
    std::printf("| configuration | ms/step | samples/s | base linear weights MiB | bytes/param | peak device MiB |\n");
    std::printf("|---|---:|---:|---:|---:|---:|\n");
    for (bool quantize : {false, true})
      for (lora::Precision precision : {lora::Precision::FP32, lora::Precision::BF16}) {
        const Row r = run(checkpoint, device, quantize, precision, steps);
        char peak[32] = "n/a";
        if (r.peak_mib >= 0) std::snprintf(peak, sizeof peak, "%.0f", r.peak_mib);
        std::printf("| %s | %.1f | %.1f | %.1f | %.3f | %s |\n", r.name.c_str(), r.ms, r.samples_per_s, r.weight_mib,
                    r.bytes_per_param, peak);
        std::fflush(stdout);
      }
  } catch (const std::exception& e) {
    std::printf("FAIL exception: %s\n", e.what());
    return 1;
  }
  return 0;
}
