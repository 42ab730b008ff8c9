#include "model/config.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/checked_math.h"
#include "core/error.h"

namespace msa::model {

using nlohmann::json;

namespace {

template <typename T>
T get_or(const json& j, const char* key, T dflt, const std::string& origin) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return dflt;
  try {
    if constexpr (std::is_same_v<T, bool>) {
      MSA_CHECK(it->is_boolean(), "{}: key '{}' must be a boolean", origin, key);
      return it->get<bool>();
    } else if constexpr (std::is_integral_v<T>) {
      MSA_CHECK(it->is_number_integer() || (it->is_number() && std::floor(it->get<double>()) == it->get<double>()),
                "{}: key '{}' must be an integer", origin, key);
      return T(it->get<int64_t>());
    } else if constexpr (std::is_floating_point_v<T>) {
      MSA_CHECK(it->is_number(), "{}: key '{}' must be a number", origin, key);
      return T(it->get<double>());
    } else {
      MSA_CHECK(it->is_string(), "{}: key '{}' must be a string", origin, key);
      return it->get<std::string>();
    }
  } catch (const json::exception& e) {
    throw_error("{}: key '{}': {}", origin, key, e.what());
  }
}

int64_t require_positive(const json& j, const char* key, const std::string& origin) {
  MSA_CHECK(j.contains(key), "{}: missing required key '{}'", origin, key);
  int64_t v = get_or<int64_t>(j, key, 0, origin);
  MSA_CHECK(v > 0, "{}: key '{}' must be > 0 (got {})", origin, key, v);
  return v;
}

}  // namespace

std::vector<int> parse_router_layer_idx(const std::string& s, int64_t num_layers) {
  std::vector<int> out;
  if (s == "all") {
    for (int i = 0; i < num_layers; ++i) out.push_back(i);
    return out;
  }
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) {
    item.erase(0, item.find_first_not_of(" \t"));
    item.erase(item.find_last_not_of(" \t") + 1);
    MSA_CHECK(!item.empty() && std::all_of(item.begin(), item.end(), ::isdigit),
              "router_layer_idx: '{}' is not 'all' or a comma-separated list of layer numbers", s);
    MSA_CHECK(item.size() < 8, "router_layer_idx: layer '{}' out of range", item);
    int v = std::stoi(item);
    MSA_CHECK(v < num_layers, "router_layer_idx: layer {} out of range (model has {} layers)", v,
              num_layers);
    out.push_back(v);
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

bool ModelConfig::is_routing_layer(int layer) const {
  return msa.present &&
         std::binary_search(msa.routing_layers.begin(), msa.routing_layers.end(), layer);
}

RoutingScoreRule ModelConfig::routing_score_rule(bool cosine) const {
  RoutingScoreRule r;
  const float inv_sqrt_d = 1.0f / std::sqrt(float(head_dim));
  const bool infonce = msa.aux_loss_method == "INFONCE";
  if (cosine) {
    r.normalize_query = r.normalize_keys = true;
    r.alpha = 1.0f;
  } else if (infonce && msa.decouple_router) {
    r.normalize_query = r.normalize_keys = true;
    r.alpha = 1.0f;
  } else if (infonce) {
    r.normalize_query = r.normalize_keys = true;
    r.alpha = inv_sqrt_d;
  } else {
    r.alpha = inv_sqrt_d;
  }
  return r;
}

ModelConfig parse_model_config(const std::string& text, const std::string& origin) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    throw_error("{}: invalid JSON: {}", origin, e.what());
  }
  MSA_CHECK(j.is_object(), "{}: top level must be a JSON object", origin);
  ModelConfig c;
  c.model_type = get_or<std::string>(j, "model_type", "qwen3", origin);
  c.vocab_size = require_positive(j, "vocab_size", origin);
  c.hidden_size = require_positive(j, "hidden_size", origin);
  c.intermediate_size = require_positive(j, "intermediate_size", origin);
  c.num_hidden_layers = require_positive(j, "num_hidden_layers", origin);
  c.num_attention_heads = require_positive(j, "num_attention_heads", origin);
  c.num_key_value_heads = get_or<int64_t>(j, "num_key_value_heads", c.num_attention_heads, origin);
  c.head_dim = get_or<int64_t>(j, "head_dim", c.hidden_size / c.num_attention_heads, origin);
  c.rope_theta = get_or<float>(j, "rope_theta", 1e6f, origin);
  c.rms_norm_eps = get_or<float>(j, "rms_norm_eps", 1e-6f, origin);
  c.max_position_embeddings = get_or<int64_t>(j, "max_position_embeddings", 40960, origin);
  c.tie_word_embeddings = get_or<bool>(j, "tie_word_embeddings", false, origin);
  c.bos_token_id = get_or<int64_t>(j, "bos_token_id", -1, origin);
  c.torch_dtype = get_or<std::string>(j, "torch_dtype", "bfloat16", origin);
  if (auto it = j.find("eos_token_id"); it != j.end() && !it->is_null()) {
    if (it->is_array()) {
      for (auto& e : *it) {
        MSA_CHECK(e.is_number_integer(), "{}: eos_token_id entries must be integers", origin);
        c.eos_token_ids.push_back(e.get<int64_t>());
      }
    } else {
      MSA_CHECK(it->is_number_integer(), "{}: eos_token_id must be an integer or list", origin);
      c.eos_token_ids.push_back(it->get<int64_t>());
    }
  }

  // Consistency checks: only what this engine implements is accepted.
  MSA_CHECK(c.num_key_value_heads > 0 && c.num_attention_heads % c.num_key_value_heads == 0,
            "{}: num_attention_heads ({}) must be a multiple of num_key_value_heads ({})", origin,
            c.num_attention_heads, c.num_key_value_heads);
  MSA_CHECK(c.head_dim > 0 && c.head_dim % 2 == 0, "{}: head_dim must be a positive even number",
            origin);
  MSA_CHECK(c.max_position_embeddings > 0, "{}: max_position_embeddings must be > 0 (got {})", origin,
            c.max_position_embeddings);
  // Sizes from the file: their products (matrix shapes, per-token vectors) must
  // fit in int64 — a wrapped product would "match" a small tensor.
  checked_product<int64_t>({c.num_attention_heads, c.head_dim}, origin + ": num_attention_heads x head_dim");
  checked_product<int64_t>({c.vocab_size, c.hidden_size}, origin + ": vocab_size x hidden_size");
  checked_product<int64_t>({c.hidden_size, c.intermediate_size}, origin + ": hidden_size x intermediate_size");
  checked_product<int64_t>({c.hidden_size, c.num_attention_heads, c.head_dim},
                           origin + ": hidden_size x num_attention_heads x head_dim");
  MSA_CHECK(c.rope_theta > 0, "{}: rope_theta must be > 0", origin);
  MSA_CHECK(c.rms_norm_eps > 0, "{}: rms_norm_eps must be > 0", origin);
  const std::string act = get_or<std::string>(j, "hidden_act", "silu", origin);
  MSA_CHECK(act == "silu", "{}: hidden_act '{}' is not supported (only silu)", origin, act);
  MSA_CHECK(!get_or<bool>(j, "attention_bias", false, origin),
            "{}: attention_bias=true is not supported (Qwen3 has no biases)", origin);
  MSA_CHECK(!j.contains("rope_scaling") || j["rope_scaling"].is_null(),
            "{}: rope_scaling is not supported (only default RoPE)", origin);
  MSA_CHECK(!get_or<bool>(j, "use_sliding_window", false, origin),
            "{}: use_sliding_window=true is not supported", origin);
  for (int64_t id : c.eos_token_ids)
    MSA_CHECK(id >= 0 && id < c.vocab_size, "{}: eos_token_id {} outside the vocabulary", origin,
              id);

  if (auto it = j.find("msa_config"); it != j.end() && !it->is_null()) {
    MSA_CHECK(it->is_object(), "{}: msa_config must be an object", origin);
    const json& m = *it;
    const std::string o = origin + ": msa_config";
    MsaConfig& s = c.msa;
    s.present = true;
    s.router_layer_idx = get_or<std::string>(m, "router_layer_idx", "all", o);
    s.top_k_docs = get_or<int>(m, "top_k_docs", 2, o);
    s.has_doc_top_k = m.contains("doc_top_k");
    s.doc_top_k = get_or<int>(m, "doc_top_k", 16, o);
    s.pooling_kernel_size = get_or<int>(m, "pooling_kernel_size", 2, o);
    s.decouple_router = get_or<bool>(m, "decouple_router", false, o);
    s.head_reduce_method = get_or<std::string>(m, "head_reduce_method", "max", o);
    s.query_reduce_method = get_or<std::string>(m, "query_reduce_method", "max", o);
    s.chunk_reduce_method = get_or<std::string>(m, "chunk_reduce_method", "max", o);
    s.aux_loss_method = get_or<std::string>(m, "aux_loss_method", "INFONCE", o);
    s.infonce_loss_temp = get_or<float>(m, "infonce_loss_temp", 0.1f, o);
    s.aux_loss = get_or<bool>(m, "aux_loss", false, o);
    s.lmloss_weigth = get_or<float>(m, "lmloss_weigth", 1.0f, o);
    s.auxloss_weight = get_or<float>(m, "auxloss_weight", 0.1f, o);
    s.recloss_weight = get_or<float>(m, "recloss_weight", 0.0f, o);
    s.ansloss_weight = get_or<float>(m, "ansloss_weight", 1.0f, o);
    s.rewrite_position = get_or<bool>(m, "rewrite_position", false, o);
    s.decouple_pooling_mode = get_or<std::string>(m, "decouple_pooling_mode", "mean", o);
    try {
      s.routing_layers = parse_router_layer_idx(s.router_layer_idx, c.num_hidden_layers);
      s.head_reduce = kernels::parse_head_reduce(s.head_reduce_method);
      s.query_reduce = kernels::parse_query_reduce(s.query_reduce_method);
      s.chunk_reduce = kernels::parse_chunk_reduce(s.chunk_reduce_method);
    } catch (const Error& e) {
      throw_error("{}: {}", o, e.what());
    }
    MSA_CHECK(s.pooling_kernel_size > 0, "{}: pooling_kernel_size must be > 0", o);
    MSA_CHECK(s.top_k_docs > 0 && s.doc_top_k > 0, "{}: top_k_docs/doc_top_k must be > 0", o);
    static const char* kMethods[] = {"INFONCE", "INFONCE_FOCAL", "INFONCE_DECOUPLE",
                                     "INFONCE_DECOUPLE_FOCAL", "BCE"};
    MSA_CHECK(std::find(std::begin(kMethods), std::end(kMethods), s.aux_loss_method) !=
                  std::end(kMethods),
              "{}: unknown aux_loss_method '{}'", o, s.aux_loss_method);
  }
  return c;
}

ModelConfig load_model_config(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  MSA_CHECK(f.good(), "cannot read '{}'", path);
  std::stringstream ss;
  ss << f.rdbuf();
  return parse_model_config(ss.str(), path);
}

std::string model_config_to_json(const ModelConfig& c) {
  json j;
  j["architectures"] = json::array({c.msa.present ? "MSAForCausalLM" : "Qwen3ForCausalLM"});
  j["model_type"] = c.model_type;
  j["vocab_size"] = c.vocab_size;
  j["hidden_size"] = c.hidden_size;
  j["intermediate_size"] = c.intermediate_size;
  j["num_hidden_layers"] = c.num_hidden_layers;
  j["num_attention_heads"] = c.num_attention_heads;
  j["num_key_value_heads"] = c.num_key_value_heads;
  j["head_dim"] = c.head_dim;
  j["rope_theta"] = c.rope_theta;
  j["rope_scaling"] = nullptr;
  j["rms_norm_eps"] = c.rms_norm_eps;
  j["max_position_embeddings"] = c.max_position_embeddings;
  j["tie_word_embeddings"] = c.tie_word_embeddings;
  j["hidden_act"] = "silu";
  j["attention_bias"] = false;
  j["attention_dropout"] = 0.0;
  if (c.bos_token_id >= 0) j["bos_token_id"] = c.bos_token_id;
  if (c.eos_token_ids.size() == 1) j["eos_token_id"] = c.eos_token_ids[0];
  else if (!c.eos_token_ids.empty()) j["eos_token_id"] = c.eos_token_ids;
  j["torch_dtype"] = c.torch_dtype;
  if (c.msa.present) {
    const MsaConfig& s = c.msa;
    json m;
    m["router_layer_idx"] = s.router_layer_idx;
    m["top_k_docs"] = s.top_k_docs;
    if (s.has_doc_top_k) m["doc_top_k"] = s.doc_top_k;
    m["pooling_kernel_size"] = s.pooling_kernel_size;
    m["decouple_router"] = s.decouple_router;
    m["head_reduce_method"] = s.head_reduce_method;
    m["query_reduce_method"] = s.query_reduce_method;
    m["chunk_reduce_method"] = s.chunk_reduce_method;
    m["aux_loss_method"] = s.aux_loss_method;
    m["infonce_loss_temp"] = s.infonce_loss_temp;
    m["aux_loss"] = s.aux_loss;
    m["lmloss_weigth"] = s.lmloss_weigth;
    m["auxloss_weight"] = s.auxloss_weight;
    m["recloss_weight"] = s.recloss_weight;
    m["ansloss_weight"] = s.ansloss_weight;
    m["rewrite_position"] = s.rewrite_position;
    m["decouple_pooling_mode"] = s.decouple_pooling_mode;
    j["msa_config"] = m;
  }
  return j.dump(2);
}

}  // namespace msa::model
