#include "core/mlm_masking.h"

#include <ATen/ATen.h>

#include "core/errors.h"

namespace lora {
namespace {

// splitmix64 (Steele, Lea, Flood 2014): a small, well-mixed counter-based stream.
struct SplitMix64 {
  uint64_t state;
  uint64_t next() {
    uint64_t z = (state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }  // [0, 1)
};

uint64_t stream_key(uint64_t seed, int64_t epoch, int64_t example) {
  SplitMix64 mix{seed};
  uint64_t key = mix.next() ^ static_cast<uint64_t>(epoch + 1) * 0xD1B54A32D192ED03ULL;
  SplitMix64 mix2{key};
  return mix2.next() ^ static_cast<uint64_t>(example) * 0x9E3779B97F4A7C15ULL;
}

}  // namespace

void check_masking_spec(MaskingSpec* spec, int64_t vocab_size) {
  const auto V = static_cast<size_t>(vocab_size);
  if (!(spec->probability > 0 && spec->probability <= 1))
    fail(code::kInvalidArgument, "Expected a masking probability in (0, 1] but received " + std::to_string(spec->probability));
  if (!(spec->mask_fraction >= 0 && spec->random_fraction >= 0 && spec->mask_fraction + spec->random_fraction <= 1))
    fail(code::kInvalidArgument, "Expected mask and random fractions >= 0 with a sum <= 1");
  if (spec->mask_token_id < 0 || spec->mask_token_id >= vocab_size)
    fail(code::kInvalidArgument, "Expected a [MASK] id in [0, " + std::to_string(vocab_size) + ") but received " +
                                     std::to_string(spec->mask_token_id));
  if (spec->special.size() != V)
    fail(code::kInvalidArgument, "Expected one special-token flag per vocabulary id (" + std::to_string(V) +
                                     ") but received " + std::to_string(spec->special.size()));
  if (spec->whole_word && spec->continuation.size() != V)
    fail(code::kInvalidArgument, "Expected one continuation flag per vocabulary id (" + std::to_string(V) +
                                     ") for whole-word masking but received " + std::to_string(spec->continuation.size()));
  spec->random_pool.clear();
  for (size_t id = 0; id < V; ++id)
    if (!spec->special[id]) spec->random_pool.push_back(static_cast<int64_t>(id));
  if (spec->random_pool.empty()) fail(code::kInvalidArgument, "Expected some non-special tokens in the vocabulary");
}

MaskedTokens mask_tokens(const at::Tensor& input_ids, const at::Tensor& attention_mask,
                         const std::vector<int64_t>& examples, uint64_t seed, int64_t epoch, const MaskingSpec& spec) {
  if (input_ids.dim() != 2 || !attention_mask.sizes().equals(input_ids.sizes()))
    fail(code::kInvalidArgument, "Expected input ids and an attention mask of one shape [batchSize, seqLen]");
  const int64_t B = input_ids.size(0), T = input_ids.size(1);
  if (static_cast<int64_t>(examples.size()) != B)
    fail(code::kInvalidArgument, "Expected one example key per row (" + std::to_string(B) + ")");
  if (spec.random_pool.empty()) fail(code::kInternal, "mask_tokens: the masking spec was not checked");
  MaskedTokens out;
  out.input_ids = input_ids.to(at::kCPU, at::kLong).contiguous().clone();
  out.labels = at::full({B, T}, -100, at::kLong);
  at::Tensor mask = attention_mask.to(at::kCPU, at::kLong).contiguous();
  auto ids = out.input_ids.accessor<int64_t, 2>();
  auto labels = out.labels.accessor<int64_t, 2>();
  auto attend = mask.accessor<int64_t, 2>();
  const auto V = static_cast<int64_t>(spec.special.size());
  const auto pool = static_cast<uint64_t>(spec.random_pool.size());
  for (int64_t b = 0; b < B; ++b) {
    SplitMix64 rng{stream_key(seed, epoch, examples[b])};
    bool word_selected = false;
    bool previous_candidate = false;
    for (int64_t t = 0; t < T; ++t) {
      const int64_t id = ids[b][t];
      if (id < 0 || id >= V) fail(code::kInvalidArgument, "Expected token ids in [0, " + std::to_string(V) + ") but received " + std::to_string(id));
      const bool candidate = attend[b][t] != 0 && !spec.special[id];
      // One draw per token keeps the stream's position independent of the choices made.
      const double select_draw = rng.uniform();
      const double kind_draw = rng.uniform();
      const uint64_t random_draw = rng.next();
      if (!candidate) {
        previous_candidate = false;
        continue;
      }
      const bool continues_word = spec.whole_word && previous_candidate && spec.continuation[id];
      const bool selected = continues_word ? word_selected : select_draw < spec.probability;
      word_selected = selected;
      previous_candidate = true;
      if (!selected) continue;
      labels[b][t] = id;
      if (kind_draw < spec.mask_fraction) ids[b][t] = spec.mask_token_id;
      else if (kind_draw < spec.mask_fraction + spec.random_fraction) ids[b][t] = spec.random_pool[random_draw % pool];
    }
  }
  return out;
}

}  // namespace lora
