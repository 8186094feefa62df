// Masking for masked-language-model training, as transformers'
// DataCollatorForLanguageModeling does it: each candidate token (real, not a
// special token) is selected with `probability`; of the selected, 80% become
// [MASK], 10% a random non-special token, 10% stay as they are; labels hold the
// original id at selected positions and -100 elsewhere. With whole_word, the
// choice is made per word: a "##" continuation piece follows the word it belongs to.
//
// Draws come from a counter-based generator keyed by (seed, epoch, example):
// an example gets the same masks whatever batch it lands in, new masks each
// epoch, and a resumed run reproduces them exactly.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

namespace lora {

struct MaskingSpec {
  double probability = 0.15;
  double mask_fraction = 0.8;    // of the selected: [MASK]
  double random_fraction = 0.1;  // of the selected: a random token (the rest stay unchanged)
  bool whole_word = false;
  int64_t mask_token_id = -1;
  std::vector<uint8_t> special;       // [V]: 1 = never selected, never drawn as a random token
  std::vector<uint8_t> continuation;  // [V]: 1 = a "##" piece (whole-word masking)
  std::vector<int64_t> random_pool;   // the non-special ids (filled by check_masking_spec)
};

// Checks the spec against the vocabulary size and fills random_pool (ERR_INVALID_ARGUMENT).
void check_masking_spec(MaskingSpec* spec, int64_t vocab_size);

struct MaskedTokens {
  at::Tensor input_ids;  // int64 [B, T], masked
  at::Tensor labels;     // int64 [B, T], -100 where not selected
};

// input_ids, attention_mask: int64 [B, T] on the CPU; examples[b]: the key of row b.
MaskedTokens mask_tokens(const at::Tensor& input_ids, const at::Tensor& attention_mask,
                         const std::vector<int64_t>& examples, uint64_t seed, int64_t epoch, const MaskingSpec& spec);

}  // namespace lora
