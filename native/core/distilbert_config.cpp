#include "core/distilbert_config.h"

#include <nlohmann/json.hpp>

#include <fstream>
#include <map>
#include <sstream>

#include "core/errors.h"

namespace lora {
namespace {

using nlohmann::json;

[[noreturn]] void config_error(const std::string& label, const std::string& message) {
  fail(code::kConfig, label + ": " + message);
}

int64_t read_positive_int(const json& j, const char* key, int64_t fallback, const std::string& label) {
  if (!j.contains(key)) return fallback;
  const json& v = j.at(key);
  if (!v.is_number_integer() || v.get<int64_t>() <= 0)
    config_error(label, std::string("expected a positive integer for \"") + key + "\" but found " + v.dump());
  return v.get<int64_t>();
}

double read_probability(const json& j, const char* key, double fallback, const std::string& label) {
  if (!j.contains(key)) return fallback;
  const json& v = j.at(key);
  if (!v.is_number() || v.get<double>() < 0.0 || v.get<double>() >= 1.0)
    config_error(label, std::string("expected a number in [0, 1) for \"") + key + "\" but found " + v.dump());
  return v.get<double>();
}

// id2label keys are strings of integers ("0", "1", ...) that must cover 0..K-1.
std::vector<std::string> read_labels(const json& j, const std::string& label) {
  if (j.contains("id2label") && !j.at("id2label").is_null()) {
    const json& map = j.at("id2label");
    if (!map.is_object() || map.empty())
      config_error(label, "expected \"id2label\" to be a non-empty object but found " + map.dump());
    std::map<int64_t, std::string> by_id;
    for (const auto& [key, value] : map.items()) {
      int64_t id = -1;
      std::istringstream parse(key);
      if (!(parse >> id) || !parse.eof() || id < 0)
        config_error(label, "expected integer keys in \"id2label\" but found \"" + key + "\"");
      if (!value.is_string()) config_error(label, "expected string labels in \"id2label\" but found " + value.dump());
      by_id[id] = value.get<std::string>();
    }
    std::vector<std::string> labels;
    for (const auto& [id, name] : by_id) {
      if (id != static_cast<int64_t>(labels.size()))
        config_error(label, "\"id2label\" must number its labels 0.." + std::to_string(by_id.size() - 1) +
                                " without gaps, but label " + std::to_string(labels.size()) + " is missing");
      labels.push_back(name);
    }
    if (j.contains("num_labels") && j.at("num_labels").is_number_integer() &&
        j.at("num_labels").get<int64_t>() != static_cast<int64_t>(labels.size()))
      config_error(label, "\"num_labels\" is " + j.at("num_labels").dump() + " but \"id2label\" has " +
                              std::to_string(labels.size()) + " labels");
    return labels;
  }
  // transformers' default: num_labels (2 when absent) labels named LABEL_i.
  const int64_t count = read_positive_int(j, "num_labels", 2, label);
  std::vector<std::string> labels;
  for (int64_t i = 0; i < count; ++i) labels.push_back("LABEL_" + std::to_string(i));
  return labels;
}

}  // namespace

DistilBertConfig parse_distilbert_config(const std::string& json_text, const std::string& label) {
  json j;
  try {
    j = json::parse(json_text);
  } catch (const json::parse_error& e) {
    config_error(label, std::string("not valid JSON (") + e.what() + ")");
  }
  if (!j.is_object()) config_error(label, "expected a JSON object at the top level");
  if (!j.contains("model_type") || !j.at("model_type").is_string())
    config_error(label, "missing \"model_type\"; expected \"distilbert\"");
  const std::string model_type = j.at("model_type").get<std::string>();
  if (model_type != "distilbert")
    config_error(label, "unsupported model_type \"" + model_type + "\"; lora-node supports \"distilbert\"");

  DistilBertConfig c;
  c.vocab_size = read_positive_int(j, "vocab_size", c.vocab_size, label);
  c.max_position_embeddings = read_positive_int(j, "max_position_embeddings", c.max_position_embeddings, label);
  c.n_layers = read_positive_int(j, "n_layers", c.n_layers, label);
  c.n_heads = read_positive_int(j, "n_heads", c.n_heads, label);
  c.dim = read_positive_int(j, "dim", c.dim, label);
  c.hidden_dim = read_positive_int(j, "hidden_dim", c.hidden_dim, label);
  c.dropout = read_probability(j, "dropout", c.dropout, label);
  c.attention_dropout = read_probability(j, "attention_dropout", c.attention_dropout, label);
  c.seq_classif_dropout = read_probability(j, "seq_classif_dropout", c.seq_classif_dropout, label);
  if (j.contains("initializer_range")) {
    const json& v = j.at("initializer_range");
    if (!v.is_number() || v.get<double>() <= 0) config_error(label, "expected a positive number for \"initializer_range\" but found " + v.dump());
    c.initializer_range = v.get<double>();
  }
  if (j.contains("sinusoidal_pos_embds")) {
    if (!j.at("sinusoidal_pos_embds").is_boolean())
      config_error(label, "expected a boolean for \"sinusoidal_pos_embds\" but found " + j.at("sinusoidal_pos_embds").dump());
    c.sinusoidal_pos_embds = j.at("sinusoidal_pos_embds").get<bool>();
  }
  if (j.contains("activation")) {
    if (!j.at("activation").is_string()) config_error(label, "expected a string for \"activation\"");
    c.activation = j.at("activation").get<std::string>();
  }
  if (c.activation != "gelu" && c.activation != "relu")
    config_error(label, "unsupported activation \"" + c.activation + "\"; expected \"gelu\" or \"relu\"");
  if (j.contains("pad_token_id") && !j.at("pad_token_id").is_null()) {
    if (!j.at("pad_token_id").is_number_integer()) config_error(label, "expected an integer for \"pad_token_id\"");
    c.pad_token_id = j.at("pad_token_id").get<int64_t>();
    if (c.pad_token_id < 0 || c.pad_token_id >= c.vocab_size)
      config_error(label, "\"pad_token_id\" " + std::to_string(c.pad_token_id) + " is outside the vocabulary of " +
                              std::to_string(c.vocab_size));
  }
  c.labels = read_labels(j, label);
  if (j.contains("problem_type") && !j.at("problem_type").is_null()) {
    const json& p = j.at("problem_type");
    const std::string value = p.is_string() ? p.get<std::string>() : p.dump();
    if (value != "regression" && value != "single_label_classification" && value != "multi_label_classification")
      config_error(label, "unsupported problem_type \"" + value +
                              "\"; expected regression, single_label_classification or multi_label_classification");
    c.problem_type = value;
  }
  // transformers >= 4.56 writes "dtype" instead of "torch_dtype".
  for (const char* key : {"torch_dtype", "dtype"})
    if (j.contains(key) && j.at(key).is_string()) c.torch_dtype = j.at(key).get<std::string>();

  if (c.dim % c.n_heads != 0)
    config_error(label, "dim " + std::to_string(c.dim) + " is not divisible by n_heads " + std::to_string(c.n_heads));
  return c;
}

DistilBertConfig load_distilbert_config(const std::string& checkpoint_dir) {
  const std::string path = checkpoint_dir + "/config.json";
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(code::kConfig, "missing " + path + ": a Hugging Face checkpoint folder needs config.json");
  std::stringstream text;
  text << in.rdbuf();
  return parse_distilbert_config(text.str(), path);
}

}  // namespace lora
