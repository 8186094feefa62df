// MultiAdapterModel::forward: the shared layers once, then every adapter in one
// stacked pass (see multi_adapter.h). The adapted block and attention mirror
// DistilBertClassifier::block/attention line by line, with the single LoRA
// update replaced by the stacked per-adapter ones, so each adapter's logits
// equal those of a DistilBertClassifier carrying that adapter alone.
#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/errors.h"
#include "core/fused_norm.h"
#include "core/multi_adapter.h"

namespace lora {
namespace {

constexpr double kLayerNormEps = 1e-12;  // DistilBERT's LayerNorm eps
constexpr int64_t kStackedTokens = 4096;  // rows (texts × adapters × tokens) per stacked pass: one 32 × 128 batch

// y [N·B, T, out] += each adapter's update of its own group of x [N·B, T, in]:
// scale · (x Aᵀ) Bᵀ (+ its bias replacement), times `factor` (q's 1/√D).
// y may be a view (a chunk of the fused qkv output); it is updated in place.
void add_updates(const at::Tensor& y, const at::Tensor& x, const StackedUpdate& u, int64_t n, double factor = 1.0) {
  if (u.empty()) return;
  const int64_t out = y.size(-1);
  at::Tensor xg = x.to(y.scalar_type()).reshape({n, -1, x.size(-1)});  // [N, B·T, in]
  if (u.groups.defined()) xg = xg.index_select(0, u.groups);             // [G, B·T, in]
  at::Tensor d;
  if (u.A.defined()) d = at::bmm(at::bmm(xg, u.A.transpose(1, 2)), u.B.transpose(1, 2)).mul_(u.scale);  // [G, B·T, out]
  if (u.bias_delta.defined())
    d = d.defined() ? d.add_(u.bias_delta) : u.bias_delta.expand({xg.size(0), xg.size(1), out}).contiguous();
  if (factor != 1.0) d.mul_(factor);
  at::Tensor yg = y.view({n, -1, out});
  if (u.groups.defined()) yg.index_add_(0, u.groups, d);
  else yg.add_(d);
}

}  // namespace

// softmax((q/√D)·kᵀ masked) · v on the stacked batch. x: [N·B,T,C] -> [N·B,T,C], before out_lin
at::Tensor MultiAdapterModel::adapted_attention(const TransformerBlock& b, const std::array<StackedUpdate, kBlockLinears>& u,
                                                const at::Tensor& x, const at::Tensor& key_mask, int64_t n,
                                                const ForwardContext& ctx) const {
  const DistilBertConfig& c = base_->config_;
  const int64_t NB = x.size(0), T = x.size(1), H = c.n_heads, D = c.head_dim();
  const double scale = 1.0 / std::sqrt(static_cast<double>(D));
  at::Tensor q, k, v;
  if (b.qkv.weight.defined()) {
    std::vector<at::Tensor> parts = b.qkv.base_forward(x).chunk(3, -1);  // q already scaled by 1/√D
    q = parts[0], k = parts[1], v = parts[2];
    add_updates(q, x, u[kQ], n, scale);
    add_updates(k, x, u[kK], n);
    add_updates(v, x, u[kV], n);
  } else {
    q = b.q_lin.base_forward(x);
    add_updates(q, x, u[kQ], n);
    q = q * scale;
    k = b.k_lin.base_forward(x);
    add_updates(k, x, u[kK], n);
    v = b.v_lin.base_forward(x);
    add_updates(v, x, u[kV], n);
  }
  auto heads = [&](const at::Tensor& t) { return t.reshape({NB, T, H, D}).transpose(1, 2); };  // [N·B,H,T,D]
  q = heads(q);
  k = heads(k);
  v = heads(v);
  at::Tensor scores = at::matmul(q, k.transpose(-1, -2));  // [N·B,H,T,T]
  const c10::Scalar lowest = scores.scalar_type() == at::kFloat ? c10::Scalar(std::numeric_limits<float>::lowest())
                            : scores.scalar_type() == at::kBFloat16 ? c10::Scalar(-3.3895313892515355e38)
                                                                   : c10::Scalar(-65504.0);
  scores.masked_fill_(key_mask, lowest);
  return at::matmul(at::softmax(scores, -1), v).transpose(1, 2).reshape({NB, T, H * D});
}

// x = LN_out(FFN(s) + s) with s = LN_sa(attn(x) + x), every linear plus its stacked updates
at::Tensor MultiAdapterModel::adapted_block(const TransformerBlock& b, const std::array<StackedUpdate, kBlockLinears>& u,
                                            const at::Tensor& x, const at::Tensor& key_mask, int64_t n,
                                            const ForwardContext& ctx, at::Tensor* x_lowp) const {
  const bool fused = ctx.fused && !b.out_lin.quantized && !b.lin2.quantized;
  const bool lowp = fused && x_lowp && compute_dtype(base_->precision_) == at::kBFloat16;
  at::Tensor context = adapted_attention(b, u, lowp && x_lowp->defined() ? *x_lowp : x, key_mask, n, ctx);
  at::Tensor s_lowp, s;
  if (fused) {
    at::Tensor y = b.out_lin.matmul(context);
    add_updates(y, context, u[kOut], n);
    s = residual_layer_norm(x, y, b.out_lin.bias, b.sa_layer_norm.weight, b.sa_layer_norm.bias, kLayerNormEps,
                            lowp ? &s_lowp : nullptr);
  } else {
    at::Tensor y = b.out_lin.base_forward(context);
    add_updates(y, context, u[kOut], n);
    s = b.sa_layer_norm.forward(y.to(at::kFloat) + x);
  }
  const at::Tensor& lin1_in = lowp ? s_lowp : s;
  at::Tensor h = b.lin1.base_forward(lin1_in);
  add_updates(h, lin1_in, u[kLin1], n);
  if (base_->config_.activation == "relu") h = at::relu_(h);
  else h = fused ? at::gelu_out(h, h) : at::gelu(h);
  if (fused) {
    at::Tensor y = b.lin2.matmul(h);
    add_updates(y, h, u[kLin2], n);
    return residual_layer_norm(s, y, b.lin2.bias, b.output_layer_norm.weight, b.output_layer_norm.bias, kLayerNormEps,
                               lowp ? x_lowp : nullptr);
  }
  at::Tensor y = b.lin2.base_forward(h);
  add_updates(y, h, u[kLin2], n);
  return b.output_layer_norm.forward(y.to(at::kFloat) + s);
}

std::vector<at::Tensor> MultiAdapterModel::forward(const AdapterSet& set, const at::Tensor& input_ids,
                                                   const at::Tensor& attention_mask) const {
  c10::InferenceMode inference;
  const DistilBertClassifier& base = *base_;
  at::Tensor ids = input_ids.to(base.device_, at::kLong);
  at::Tensor mask = attention_mask.to(base.device_);
  check_token_inputs(base.config_, ids, mask);
  const int64_t n = static_cast<int64_t>(set.adapters.size()), B = ids.size(0), T = ids.size(1);
  if (n == 0) return {};
  ForwardContext ctx;
  ctx.fused = base.device_.is_cpu();
  at::Tensor key_mask = (mask == 0).view({B, 1, 1, T});
  at::Tensor x = base.embed(ids, ctx);
  at::Tensor x_lowp;  // x in bf16, carried between fused blocks
  const int64_t layers = static_cast<int64_t>(base.blocks.size());
  // Layers no adapter touches: once for all adapters, on [B,T,C].
  for (int64_t i = 0; i < set.first_adapted_layer; ++i) x = base.block(base.blocks[i], x, key_mask, ctx, &x_lowp);
  std::vector<at::Tensor> logits(n);
  auto heads = [&](const at::Tensor& pooled, std::vector<std::vector<at::Tensor>>* parts) {  // pooled [N, b, C]
    // Each adapter's head: hidden[:, 0] -> pre_classifier -> ReLU -> classifier (fp32, as the base's head).
    for (int64_t i = 0; i < n; ++i) {
      const LoadedAdapter& a = *set.adapters[i];
      (*parts)[i].push_back(a.classifier.forward(at::relu(a.pre_classifier.forward(pooled[i], ctx)), ctx).to(at::kFloat));
    }
  };
  std::vector<std::vector<at::Tensor>> parts(n);
  if (set.first_adapted_layer == layers) {
    heads(x.select(1, 0).unsqueeze(0).expand({n, B, x.size(-1)}), &parts);  // only the heads differ
  } else {
    // From here each adapter has its own hidden states, stacked adapter-major: [N·b, T, C].
    // The texts go through in slices of about kStackedTokens rows, so the stack's
    // activations stay the size of one ordinary batch: measured on 2 cores, stacking a
    // whole batch per adapter made each row slower than separate forwards (activations
    // out of cache, and fresh mmaps for every tensor over malloc's threshold).
    const int64_t slice = std::max<int64_t>(1, kStackedTokens / (n * T));
    for (int64_t b0 = 0; b0 < B; b0 += slice) {
      const int64_t b = std::min(slice, B - b0);
      at::Tensor xs = x.narrow(0, b0, b).repeat({n, 1, 1});
      at::Tensor xs_lowp = x_lowp.defined() ? x_lowp.narrow(0, b0, b).repeat({n, 1, 1}) : at::Tensor();
      at::Tensor mask_s = key_mask.narrow(0, b0, b).repeat({n, 1, 1, 1});
      for (int64_t i = set.first_adapted_layer; i < layers; ++i)
        xs = adapted_block(base.blocks[i], set.layers[i], xs, mask_s, n, ctx, &xs_lowp);
      heads(xs.view({n, b, T, xs.size(-1)}).select(2, 0), &parts);
    }
  }
  for (int64_t i = 0; i < n; ++i) logits[i] = parts[i].size() == 1 ? parts[i][0] : at::cat(parts[i], 0);
  return logits;
}

}  // namespace lora
