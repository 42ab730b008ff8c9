#include "model/random_checkpoint.h"

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <functional>
#include <vector>
#include <cstring>
#include <cstdio>

#include "core/error.h"
#include "core/half.h"
#include "model/safetensors.h"
#include "model/weights.h"

namespace msa::model {

namespace fs = std::filesystem;

ModelConfig preset_config(const std::string& name) {
  ModelConfig c;
  c.model_type = "msa";
  c.rms_norm_eps = 1e-6f;
  c.msa.present = true;
  c.msa.decouple_router = true;
  c.msa.head_reduce_method = "mean";
  c.msa.query_reduce_method = "max";
  c.msa.chunk_reduce_method = "max";
  c.msa.aux_loss_method = "INFONCE_DECOUPLE";
  c.msa.rewrite_position = true;
  if (name == "tiny") {
    c.vocab_size = 512; c.hidden_size = 64; c.intermediate_size = 128; c.num_hidden_layers = 4;
    c.num_attention_heads = 4; c.num_key_value_heads = 2; c.head_dim = 16; c.rope_theta = 10000.f;
    c.max_position_embeddings = 4096; c.tie_word_embeddings = false;
    c.msa.router_layer_idx = "2,3"; c.msa.pooling_kernel_size = 4; c.msa.top_k_docs = 2;
  } else if (name == "0.6b") {
    c.vocab_size = 151936; c.hidden_size = 1024; c.intermediate_size = 3072; c.num_hidden_layers = 28;
    c.num_attention_heads = 16; c.num_key_value_heads = 8; c.head_dim = 128; c.rope_theta = 1e6f;
    c.max_position_embeddings = 40960; c.tie_word_embeddings = true;
    c.msa.router_layer_idx = "14,15,16,17,18,19,20,21,22,23,24,25,26,27";
    c.msa.pooling_kernel_size = 64; c.msa.top_k_docs = 16;
  } else if (name == "4b") {
    c.vocab_size = 151936; c.hidden_size = 2560; c.intermediate_size = 9728; c.num_hidden_layers = 36;
    c.num_attention_heads = 32; c.num_key_value_heads = 8; c.head_dim = 128; c.rope_theta = 5e6f;
    c.max_position_embeddings = 262144; c.tie_word_embeddings = true;
    c.msa.router_layer_idx = "18,19,20,21,22,23,24,25,26,27,28,29,30,31,32,33,34,35";
    c.msa.pooling_kernel_size = 64; c.msa.top_k_docs = 16;
  } else {
    throw_error("unknown model preset '{}' (expected tiny, 0.6b or 4b)", name);
  }
  c.bos_token_id = c.vocab_size > 151643 ? 151643 : -1;
  if (c.vocab_size > 151645) c.eos_token_ids = {151645};
  c.msa.routing_layers = parse_router_layer_idx(c.msa.router_layer_idx, c.num_hidden_layers);
  c.msa.head_reduce = kernels::HeadReduce::Mean;
  return c;
}

void write_random_checkpoint(const ModelConfig& cfg, const std::string& dir,
                             const RandomCheckpointOptions& opts) {
  MSA_CHECK(opts.dtype == DType::F32 || opts.dtype == DType::BF16 || opts.dtype == DType::F16,
            "random checkpoints are F32, BF16 or F16");
  MSA_CHECK(opts.shards >= 1, "shards must be >= 1");
  fs::create_directories(dir);
  const auto tensors = expected_tensors(cfg, !cfg.tie_word_embeddings);
  // Greedy split into shards of roughly equal bytes, in name order.
  size_t total = 0;
  for (auto& [n, s] : tensors) {
    size_t e = 1;
    for (int64_t d : s) e *= size_t(d);
    total += e * dtype_size(opts.dtype);
  }
  const size_t per_shard = total / size_t(opts.shards) + 1;
  nlohmann::json weight_map = nlohmann::json::object();
  std::vector<std::vector<uint8_t>> storage;
  std::vector<TensorToWrite> batch;
  size_t batch_bytes = 0;
  int shard = 0;
  auto shard_name = [&](int i) {
    if (opts.shards == 1) return std::string("model.safetensors");
    char buf[64];
    std::snprintf(buf, sizeof buf, "model-%05d-of-%05d.safetensors", i + 1, opts.shards);
    return std::string(buf);
  };
  auto flush = [&]() {
    write_safetensors((fs::path(dir) / shard_name(shard)).string(), batch, {{"format", "pt"}});
    batch.clear();
    storage.clear();
    batch_bytes = 0;
    ++shard;
  };
  for (auto& [name, shape] : tensors) {
    size_t n = 1;
    for (int64_t d : shape) n *= size_t(d);
    const bool is_norm = shape.size() == 1;
    storage.emplace_back(n * dtype_size(opts.dtype));
    uint8_t* p = storage.back().data();
    // Uniform with the requested std (counter-based hash: fast, parallel, reproducible).
    const float a = opts.init_std * 1.7320508f;
    const uint64_t tseed = opts.seed * 0x9E3779B97F4A7C15ull + std::hash<std::string>{}(name);
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < int64_t(n); ++i) {
      uint64_t z = tseed + uint64_t(i) * 0xBF58476D1CE4E5B9ull;
      z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
      z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
      z ^= z >> 31;
      const float u = float(z >> 40) * (1.0f / 16777216.0f) * 2.0f - 1.0f;  // [-1, 1)
      const float v = is_norm ? 1.0f + a * u : a * u;
      if (opts.dtype == DType::F32) std::memcpy(p + 4 * i, &v, 4);
      else {
        const uint16_t h = opts.dtype == DType::BF16 ? f32_to_bf16(v) : f32_to_f16(v);
        std::memcpy(p + 2 * i, &h, 2);
      }
    }
    batch.push_back(TensorToWrite{name, opts.dtype, shape, p});
    weight_map[name] = shard_name(shard);
    batch_bytes += storage.back().size();
    if (opts.shards > 1 && batch_bytes >= per_shard && shard + 1 < opts.shards) flush();
  }
  flush();
  if (opts.shards > 1) {
    // Shards may end up fewer than asked when tensors are large; rename to the real count.
    nlohmann::json idx;
    idx["metadata"] = {{"total_size", total}};
    idx["weight_map"] = weight_map;
    std::ofstream(fs::path(dir) / "model.safetensors.index.json") << idx.dump(2);
  }
  nlohmann::json j = nlohmann::json::parse(model_config_to_json(cfg));
  j["torch_dtype"] = opts.dtype == DType::F32 ? "float32" : opts.dtype == DType::BF16 ? "bfloat16" : "float16";
  j["msa_random_weights"] = true;  // label: these weights carry no meaning
  std::ofstream(fs::path(dir) / "config.json") << j.dump(2);
}

}  // namespace msa::model
