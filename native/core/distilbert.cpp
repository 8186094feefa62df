#include "core/distilbert.h"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <cmath>
#include <limits>

#include "core/checkpoint.h"
#include "core/errors.h"

namespace lora {
namespace {

constexpr double kLayerNormEps = 1e-12;  // DistilBERT's LayerNorm eps

Linear load_linear(const CheckpointTensors& t, const std::string& prefix, int64_t out, int64_t in, c10::Device device) {
  Linear l;
  l.weight = t.float_tensor(prefix + ".weight", {out, in}).to(device);
  l.bias = t.float_tensor(prefix + ".bias", {out}).to(device);
  return l;
}

LayerNorm load_layer_norm(const CheckpointTensors& t, const std::string& prefix, int64_t dim, c10::Device device) {
  return {t.float_tensor(prefix + ".weight", {dim}).to(device), t.float_tensor(prefix + ".bias", {dim}).to(device)};
}

void check_inputs(const DistilBertConfig& c, const at::Tensor& ids, const at::Tensor& mask) {
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

}  // namespace

at::Tensor LayerNorm::forward(const at::Tensor& x) const {
  return at::layer_norm(x.to(at::kFloat), {weight.size(0)}, weight, bias, kLayerNormEps);
}

std::unique_ptr<DistilBertClassifier> DistilBertClassifier::load(const std::string& dir, const LoadOptions& options) {
  std::unique_ptr<DistilBertClassifier> m(new DistilBertClassifier());
  m->config_ = load_distilbert_config(dir);
  m->device_ = options.device;
  const auto& c = m->config_;
  const CheckpointTensors t = CheckpointTensors::open(dir);
  const std::string base = "distilbert.";
  const auto dev = options.device;
  m->word_embeddings = t.float_tensor(base + "embeddings.word_embeddings.weight", {c.vocab_size, c.dim}).to(dev);
  m->position_embeddings =
      t.float_tensor(base + "embeddings.position_embeddings.weight", {c.max_position_embeddings, c.dim}).to(dev);
  m->embeddings_layer_norm = load_layer_norm(t, base + "embeddings.LayerNorm", c.dim, dev);
  for (int64_t i = 0; i < c.n_layers; ++i) {
    const std::string p = base + "transformer.layer." + std::to_string(i) + ".";
    TransformerBlock b;
    b.q_lin = load_linear(t, p + "attention.q_lin", c.dim, c.dim, dev);
    b.k_lin = load_linear(t, p + "attention.k_lin", c.dim, c.dim, dev);
    b.v_lin = load_linear(t, p + "attention.v_lin", c.dim, c.dim, dev);
    b.out_lin = load_linear(t, p + "attention.out_lin", c.dim, c.dim, dev);
    b.sa_layer_norm = load_layer_norm(t, p + "sa_layer_norm", c.dim, dev);
    b.lin1 = load_linear(t, p + "ffn.lin1", c.hidden_dim, c.dim, dev);
    b.lin2 = load_linear(t, p + "ffn.lin2", c.dim, c.hidden_dim, dev);
    b.output_layer_norm = load_layer_norm(t, p + "output_layer_norm", c.dim, dev);
    m->blocks.push_back(std::move(b));
  }
  const std::string extra_layer = base + "transformer.layer." + std::to_string(c.n_layers) + ".attention.q_lin.weight";
  if (t.contains(extra_layer))
    fail(code::kShape, dir + ": the checkpoint has more layers than n_layers = " + std::to_string(c.n_layers));
  m->pre_classifier = load_linear(t, "pre_classifier", c.dim, c.dim, dev);
  m->classifier = load_linear(t, "classifier", c.num_labels(), c.dim, dev);
  m->set_precision(options.precision);
  return m;
}

void DistilBertClassifier::set_precision(Precision p) {
  precision_ = p;
  for (auto& b : blocks) {
    for (Linear* l : {&b.out_lin, &b.lin1, &b.lin2}) l->set_precision(p);
    b.qkv.weight = at::cat({b.q_lin.weight, b.k_lin.weight, b.v_lin.weight}, 0);
    b.qkv.bias = at::cat({b.q_lin.bias, b.k_lin.bias, b.v_lin.bias}, 0);
    b.qkv.set_precision(p);
  }
  // The head is tiny and its output is the result: keep it fp32.
}

int64_t DistilBertClassifier::parameter_count() const {
  int64_t n = word_embeddings.numel() + position_embeddings.numel() + 2 * config_.dim;
  for (const auto& b : blocks)
    for (const Linear* l : {&b.q_lin, &b.k_lin, &b.v_lin, &b.out_lin, &b.lin1, &b.lin2})
      n += l->weight.numel() + l->bias.numel();
  n += static_cast<int64_t>(blocks.size()) * 4 * config_.dim;
  return n + pre_classifier.weight.numel() + pre_classifier.bias.numel() + classifier.weight.numel() +
         classifier.bias.numel();
}

// x = LayerNorm(word[ids] + pos[0..T-1])
at::Tensor DistilBertClassifier::embed(const at::Tensor& input_ids) const {
  const int64_t T = input_ids.size(1);
  at::Tensor words = at::embedding(word_embeddings, input_ids);         // [B,T,C]
  at::Tensor positions = position_embeddings.narrow(0, 0, T);            // [T,C]
  return embeddings_layer_norm.forward(words + positions);
}

// softmax((q/√D)·kᵀ masked) · v, projected by out_lin. x: [B,T,C] -> [B,T,C] (compute dtype)
at::Tensor DistilBertClassifier::attention(const TransformerBlock& b, const at::Tensor& x,
                                           const at::Tensor& key_mask) const {
  const int64_t B = x.size(0), T = x.size(1), H = config_.n_heads, D = config_.head_dim();
  // [B,T,3C] -> q, k, v as [B,H,T,D]
  std::vector<at::Tensor> qkv = b.qkv.forward(x).view({B, T, 3, H, D}).permute({2, 0, 3, 1, 4}).unbind(0);
  at::Tensor q = qkv[0] / std::sqrt(static_cast<double>(D));
  at::Tensor k = qkv[1];
  at::Tensor v = qkv[2];
  at::Tensor scores = at::matmul(q, k.transpose(-1, -2)).to(at::kFloat);  // [B,H,T,T]
  scores.masked_fill_(key_mask, std::numeric_limits<float>::lowest());   // finfo(float32).min
  at::Tensor weights = at::softmax(scores, -1).to(q.scalar_type());
  at::Tensor context = at::matmul(weights, v).transpose(1, 2).reshape({B, T, H * D});  // [B,T,C]
  return b.out_lin.forward(context);
}

// x = LN_out(FFN(s) + s) with s = LN_sa(attn(x) + x); FFN = lin2(act(lin1(s)))
at::Tensor DistilBertClassifier::block(const TransformerBlock& b, const at::Tensor& x, const at::Tensor& key_mask) const {
  at::Tensor s = b.sa_layer_norm.forward(attention(b, x, key_mask).to(at::kFloat) + x);
  at::Tensor h = b.lin1.forward(s);
  h = config_.activation == "relu" ? at::relu(h) : at::gelu(h);  // exact erf GELU
  return b.output_layer_norm.forward(b.lin2.forward(h).to(at::kFloat) + s);
}

// hidden[:, 0] -> pre_classifier -> ReLU -> (dropout: eval) -> classifier
at::Tensor DistilBertClassifier::head(const at::Tensor& hidden) const {
  at::Tensor pooled = hidden.select(1, 0);
  return classifier.forward(at::relu(pre_classifier.forward(pooled)));
}

ForwardOutputs DistilBertClassifier::forward(const at::Tensor& input_ids, const at::Tensor& attention_mask,
                                             bool want_hidden) const {
  c10::InferenceMode inference;
  at::Tensor ids = input_ids.to(device_, at::kLong);
  at::Tensor mask = attention_mask.to(device_);
  check_inputs(config_, ids, mask);
  // Only keys are masked; a mask value counts as "attend" whenever it is non-zero.
  at::Tensor key_mask = (mask == 0).view({ids.size(0), 1, 1, ids.size(1)});
  ForwardOutputs out;
  at::Tensor x = embed(ids);
  if (want_hidden) out.hidden_states.push_back(x);
  for (const auto& b : blocks) {
    x = block(b, x, key_mask);
    if (want_hidden) out.hidden_states.push_back(x);
  }
  if (want_hidden) out.last_hidden_state = x;
  out.logits = head(x).to(at::kFloat);
  return out;
}

}  // namespace lora
