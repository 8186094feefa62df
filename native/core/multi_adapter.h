// One frozen DistilBERT base shared by many LoRA adapters (one per risk type),
// all run in one pass: the layers before the first one any adapter touches
// run once on [B,T,C]; from there the batch is stacked adapter-major to
// [N·B,T,C], every base GEMM runs once on the stack, and each adapted linear
// adds its per-adapter update with a batched matmul over the N groups
// (adapters that do not touch a linear skip it; ranks are zero-padded to the
// largest one, which adds exact zeros). Each adapter has its own head.
//
// The adapter set a forward uses is an immutable snapshot (shared_ptr): adding
// or removing an adapter builds a new set and swaps it in, so a running
// forward keeps its own, and a removed adapter's memory goes when the last
// forward holding it ends.
// Shapes: N adapters, B batch, T tokens, C = dim, r rank, K labels.
#pragma once

#include <ATen/core/Tensor.h>

#include <array>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/distilbert.h"
#include "core/linear.h"
#include "core/lora.h"

namespace lora {

// Where one adapter comes from: its PEFT weights file and the per-module
// ranks/alphas resolved in TypeScript from adapter_config.json.
struct AdapterSource {
  std::string name;
  std::string weights_path;    // adapter_model.safetensors
  LoraSpec spec;               // modules, r, alpha, use_rslora (dropout is irrelevant at inference)
  int64_t num_labels = 0;      // the labels the caller has for this adapter (its head must have as many rows)
  std::string metadata;        // opaque to the core (labels, task, thresholds as JSON), handed back with snapshots
};

// One adapter: LoRA matrices per adapted block linear, bias replacements, its own head.
struct LoadedAdapter {
  std::string name;
  std::string metadata;
  std::map<std::string, LoraAdapter> lora;   // module name -> A [r, in], B [out, r], scale (fp32)
  std::map<std::string, at::Tensor> biases;  // module name -> its bias [out] as the adapter trained it
  Linear pre_classifier;                     // [C, C] (the adapter's own, or the base's)
  Linear classifier;                         // [K, C]
  int64_t bytes = 0;                         // tensor bytes this adapter adds to the base
};

// The updates of all adapters touching one base linear, stacked for bmm.
struct StackedUpdate {
  at::Tensor groups;      // int64 [G]: which adapters (undefined: all N, in order)
  at::Tensor A;           // [G, r_max, in] compute dtype (undefined: bias replacements only)
  at::Tensor B;           // [G, out, r_max] compute dtype
  at::Tensor scale;       // [G, 1, 1] compute dtype
  at::Tensor bias_delta;  // [G, 1, out] compute dtype: adapter bias - base bias (undefined: none)
  bool empty() const { return !A.defined() && !bias_delta.defined(); }
};

enum BlockLinear { kQ, kK, kV, kOut, kLin1, kLin2, kBlockLinears };

struct AdapterSet {
  std::vector<std::shared_ptr<const LoadedAdapter>> adapters;
  std::vector<std::array<StackedUpdate, kBlockLinears>> layers;  // [n_layers][linear]
  int64_t first_adapted_layer = 0;  // layers before it run once for all adapters (n_layers: none adapted)
};

class MultiAdapterModel {
 public:
  // The base must carry no LoRA of its own. ERR_INVALID_ARGUMENT otherwise.
  explicit MultiAdapterModel(std::shared_ptr<const DistilBertClassifier> base);

  // Reads and checks one adapter against the base (any thread; changes nothing).
  // ERR_SHAPE when a tensor's shape is not the base's, ERR_CONFIG for keys the
  // shared base cannot take per adapter, ERR_MISSING_TENSOR for absent ones.
  std::shared_ptr<const LoadedAdapter> read_adapter(const AdapterSource& source) const;
  // Swaps in a set with the adapter added at the end (ERR_INVALID_ARGUMENT on a duplicate name).
  void add(std::shared_ptr<const LoadedAdapter> adapter);
  // Swaps in a set without it (ERR_INVALID_ARGUMENT for an unknown name).
  void remove(const std::string& name);
  std::shared_ptr<const AdapterSet> snapshot() const;

  // input_ids, attention_mask: int64 [B, T]. One logits tensor [B, K_n] fp32 per adapter of `set`.
  std::vector<at::Tensor> forward(const AdapterSet& set, const at::Tensor& input_ids,
                                  const at::Tensor& attention_mask) const;

  const DistilBertClassifier& base() const { return *base_; }

 private:
  std::shared_ptr<const AdapterSet> build_set(std::vector<std::shared_ptr<const LoadedAdapter>> adapters) const;
  at::Tensor adapted_attention(const TransformerBlock& b, const std::array<StackedUpdate, kBlockLinears>& updates,
                               const at::Tensor& x, const at::Tensor& key_mask, int64_t n, const ForwardContext& ctx) const;
  at::Tensor adapted_block(const TransformerBlock& b, const std::array<StackedUpdate, kBlockLinears>& updates,
                           const at::Tensor& x, const at::Tensor& key_mask, int64_t n, const ForwardContext& ctx,
                           at::Tensor* x_lowp) const;

  std::shared_ptr<const DistilBertClassifier> base_;
  std::map<std::string, std::pair<int64_t, BlockLinear>> block_linears_;  // module name -> (layer, linear)
  mutable std::mutex mutex_;                                               // guards current_
  std::shared_ptr<const AdapterSet> current_;
};

}  // namespace lora
