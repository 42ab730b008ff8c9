// Model configuration: the Qwen3 keys of config.json plus the MSA `msa_config`
// block (spec §1.2, §1.4). Parsing validates every value and reports the file
// and key on error.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "kernels/routing_score.h"

namespace msa::model {

// How routing scores are normalised/scaled (spec §4.4 table).
struct RoutingScoreRule {
  bool normalize_query = false;  // L2-normalise each routing-query head
  bool normalize_keys = false;   // stored pooled routing keys are L2-normalised per KV head
  float alpha = 1.0f;            // multiplier on the dot product
};

struct MsaConfig {
  bool present = false;  // false for a plain Qwen3 checkpoint
  std::string router_layer_idx = "all";
  std::vector<int> routing_layers;  // parsed router_layer_idx, ascending
  int top_k_docs = 2;
  int doc_top_k = 16;  // engine setting; read from msa_config.doc_top_k when present
  bool has_doc_top_k = false;
  int pooling_kernel_size = 2;
  bool decouple_router = false;
  std::string head_reduce_method = "max";
  std::string query_reduce_method = "max";
  std::string chunk_reduce_method = "max";
  std::string aux_loss_method = "INFONCE";
  float infonce_loss_temp = 0.1f;
  bool aux_loss = false;
  float lmloss_weigth = 1.0f;  // (sic: the real key name)
  float auxloss_weight = 0.1f;
  float recloss_weight = 0.0f;
  float ansloss_weight = 1.0f;
  bool rewrite_position = false;
  std::string decouple_pooling_mode = "mean";

  kernels::HeadReduce head_reduce = kernels::HeadReduce::Max;
  kernels::QueryReduce query_reduce = kernels::QueryReduce::Max;
  kernels::ChunkReduce chunk_reduce = kernels::ChunkReduce::Max;
};

struct ModelConfig {
  std::string model_type = "qwen3";
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;
  int64_t num_hidden_layers = 0;
  int64_t num_attention_heads = 0;
  int64_t num_key_value_heads = 0;
  int64_t head_dim = 0;
  float rope_theta = 1e6f;
  float rms_norm_eps = 1e-6f;
  int64_t max_position_embeddings = 40960;
  bool tie_word_embeddings = false;
  int64_t bos_token_id = -1;
  std::vector<int64_t> eos_token_ids;
  std::string torch_dtype = "bfloat16";
  MsaConfig msa;

  int64_t q_dim() const { return num_attention_heads * head_dim; }
  int64_t kv_dim() const { return num_key_value_heads * head_dim; }
  int64_t gqa_group() const { return num_attention_heads / num_key_value_heads; }
  bool is_routing_layer(int layer) const;
  bool has_router_projections(int layer) const {
    return msa.present && msa.decouple_router && is_routing_layer(layer);
  }
  // Spec §4.4: the inference-time normalisation/scaling of routing scores.
  // cosine=true forces the paper/training convention (cosine, α = 1).
  RoutingScoreRule routing_score_rule(bool cosine = false) const;
};

// Parses config.json text; `origin` names the file in error messages.
ModelConfig parse_model_config(const std::string& json_text, const std::string& origin);
ModelConfig load_model_config(const std::string& path);

// Serialises back to config.json (HF layout, msa_config block when present).
std::string model_config_to_json(const ModelConfig& c);

// Parses "all" or "2,3,5" against the layer count.
std::vector<int> parse_router_layer_idx(const std::string& s, int64_t num_layers);

}  // namespace msa::model
