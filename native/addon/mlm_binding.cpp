// Masked-language-model functions: maskTokens (the training loop's masking,
// for evaluation and tests) and maskedLmForward (the MLM head's loss,
// accuracy and logits on a NativeModel loaded with maskedLm: true).
#include "addon/mlm_binding.h"

#include <memory>

#include "addon/bindings.h"
#include "addon/js_values.h"
#include "addon/model_handle.h"
#include "addon/napi_errors.h"
#include "addon/promise_worker.h"
#include "addon/tensor_convert.h"
#include "core/mlm_head.h"
#include "core/runtime.h"

namespace lora::addon {
namespace {

double number_field(Napi::Env env, const Napi::Object& o, const char* key, double fallback, const char* name) {
  if (!o.Has(key) || o.Get(key).IsUndefined()) return fallback;
  if (!o.Get(key).IsNumber()) throw_expected(env, "a number", name, o.Get(key));
  return o.Get(key).As<Napi::Number>().DoubleValue();
}

std::vector<uint8_t> flags(Napi::Env env, const Napi::Value& v, const char* name) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array)
    throw_expected(env, "a Uint8Array (one flag per vocabulary id)", name, v);
  auto a = v.As<Napi::Uint8Array>();
  return std::vector<uint8_t>(a.Data(), a.Data() + a.ElementLength());
}

Napi::Int32Array long_to_int32_array(Napi::Env env, const at::Tensor& t) {
  at::Tensor c = t.to(at::kCPU, at::kInt).contiguous();
  auto out = Napi::Int32Array::New(env, c.numel());
  if (c.numel() > 0) std::memcpy(out.Data(), c.data_ptr<int32_t>(), c.numel() * sizeof(int32_t));
  return out;
}

// maskTokens(inputIds, attentionMask, batchSize, seqLen, { spec, seed, epoch, examples?: Int32Array })
//   -> { inputIds: Int32Array, labels: Int32Array }. examples defaults to 0..B-1.
Napi::Value mask_tokens_js(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int64_t B = positive_int(env, info[2], "batchSize");
  const int64_t T = positive_int(env, info[3], "seqLen");
  at::Tensor ids = int32_array_to_long(env, info[0], "inputIds", B * T, {B, T});
  at::Tensor mask = int32_array_to_long(env, info[1], "attentionMask", B * T, {B, T});
  if (!is_plain_object(info[4])) throw_expected(env, "an options object { spec, seed, epoch }", "options", info[4]);
  Napi::Object o = info[4].As<Napi::Object>();
  Napi::Value spec_value = o.Get("spec");
  if (!is_plain_object(spec_value)) throw_expected(env, "a masking spec object", "options.spec", spec_value);
  Napi::Value special = spec_value.As<Napi::Object>().Get("special");
  const int64_t V = special.IsTypedArray() ? static_cast<int64_t>(special.As<Napi::TypedArray>().ElementLength()) : 0;
  MaskingSpec spec = parse_masking_spec(env, spec_value, V);
  const double seed = number_field(env, o, "seed", 42, "options.seed");
  const double epoch = number_field(env, o, "epoch", 0, "options.epoch");
  if (!(seed >= 0) || seed != static_cast<double>(static_cast<uint64_t>(seed)))
    throw_expected(env, "a non-negative integer", "options.seed", o.Get("seed"));
  std::vector<int64_t> examples(B);
  for (int64_t b = 0; b < B; ++b) examples[b] = b;
  if (o.Has("examples") && !o.Get("examples").IsUndefined()) {
    at::Tensor keys = int32_array_to_long(env, o.Get("examples"), "options.examples", B, {B});
    for (int64_t b = 0; b < B; ++b) examples[b] = keys[b].item<int64_t>();
  }
  MaskedTokens m = guarded(env, [&] {
    return mask_tokens(ids, mask, examples, static_cast<uint64_t>(seed), static_cast<int64_t>(epoch), spec);
  });
  Napi::Object out = Napi::Object::New(env);
  out.Set("inputIds", long_to_int32_array(env, m.input_ids));
  out.Set("labels", long_to_int32_array(env, m.labels));
  return out;
}

// maskedLmForward(model, inputIds, attentionMask, labels, batchSize, seqLen, { train, backward, allLogits })
//   -> Promise<{ loss, correct, count, logits?: Float32Array [B*T*V] }>
Napi::Value masked_lm_forward_js(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ModelAccess access = unwrap_model(env, info[0]);
  const int64_t B = positive_int(env, info[4], "batchSize");
  const int64_t T = positive_int(env, info[5], "seqLen");
  at::Tensor ids = int32_array_to_long(env, info[1], "inputIds", B * T, {B, T});
  at::Tensor mask = int32_array_to_long(env, info[2], "attentionMask", B * T, {B, T});
  at::Tensor labels = int32_array_to_long(env, info[3], "labels", B * T, {B, T});
  Napi::Object o = is_plain_object(info[6]) ? info[6].As<Napi::Object>() : Napi::Object::New(env);
  auto flag = [&](const char* key) { return o.Get(key).IsBoolean() && o.Get(key).As<Napi::Boolean>().Value(); };
  ForwardOptions options;
  options.train = flag("train");
  options.grad = flag("backward");
  const bool all_logits = flag("allLogits");
  auto model = access.model;
  if (!model->mlm_head())
    throw make_error(env, code::kInvalidArgument, "Expected a model loaded as a masked language model (maskedLm: true)");
  if (options.grad) check_trainable_for_backward(env, *model);
  auto out = std::make_shared<MaskedLmOutputs>();
  auto loss = std::make_shared<double>(0.0);
  const int threads = access.threads;
  return PromiseWorker::start(
      env,
      [=] {
        set_threads(threads);
        *out = masked_lm_forward(*model, ids, mask, labels, options, all_logits);
        *loss = out->loss.item<double>();
        if (options.grad && out->count > 0) out->loss.backward();
        if (out->logits.defined()) out->logits = out->logits.detach();
        out->loss = at::Tensor();
      },
      [=](Napi::Env env) -> Napi::Value {
        Napi::Object result = Napi::Object::New(env);
        result.Set("loss", *loss);
        result.Set("correct", static_cast<double>(out->correct));
        result.Set("count", static_cast<double>(out->count));
        if (out->logits.defined()) result.Set("logits", tensor_to_float32_array(env, out->logits));
        return result;
      });
}

}  // namespace

MaskingSpec parse_masking_spec(Napi::Env env, const Napi::Value& value, int64_t vocab_size) {
  if (!is_plain_object(value)) throw_expected(env, "a masking spec object", "masking", value);
  Napi::Object o = value.As<Napi::Object>();
  MaskingSpec spec;
  spec.probability = number_field(env, o, "probability", 0.15, "masking.probability");
  spec.mask_fraction = number_field(env, o, "maskFraction", 0.8, "masking.maskFraction");
  spec.random_fraction = number_field(env, o, "randomFraction", 0.1, "masking.randomFraction");
  spec.whole_word = o.Get("wholeWord").IsBoolean() && o.Get("wholeWord").As<Napi::Boolean>().Value();
  const double mask_id = number_field(env, o, "maskTokenId", -1, "masking.maskTokenId");
  spec.mask_token_id = static_cast<int64_t>(mask_id);
  spec.special = flags(env, o.Get("special"), "masking.special");
  if (o.Has("continuation") && !o.Get("continuation").IsUndefined())
    spec.continuation = flags(env, o.Get("continuation"), "masking.continuation");
  guarded(env, [&] { check_masking_spec(&spec, vocab_size); });
  return spec;
}

void register_mlm(Napi::Env env, Napi::Object exports) {
  exports.Set("maskTokens", Napi::Function::New(env, mask_tokens_js, "maskTokens"));
  exports.Set("maskedLmForward", Napi::Function::New(env, masked_lm_forward_js, "maskedLmForward"));
}

}  // namespace lora::addon
