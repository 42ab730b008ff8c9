#include "model/weights.h"

#include <set>

#include "core/error.h"
#include "core/half.h"
#include <cstring>

namespace msa::model {

namespace {

std::string layer_name(int i, const char* rest) {
  return "model.layers." + std::to_string(i) + "." + rest;
}

kernels::WType wtype_of(const TensorInfo& t) {
  switch (t.dtype) {
    case DType::F32: return kernels::WType::F32;
    case DType::BF16: return kernels::WType::BF16;
    case DType::F16: return kernels::WType::F16;
    default: throw_error("{}: tensor '{}' has dtype {}; weights must be F32, BF16 or F16", t.file,
                         t.name, dtype_name(t.dtype));
  }
}

void check_shape(const TensorInfo& t, const std::vector<int64_t>& shape) {
  MSA_CHECK(t.shape == shape, "{}: tensor '{}' has shape {} but the config requires {}", t.file,
            t.name, t.shape_str(), format_shape(shape));
}

kernels::WeightView matrix(const Checkpoint& c, const std::string& name, int64_t rows,
                           int64_t cols) {
  const TensorInfo& t = c.get(name);
  check_shape(t, {rows, cols});
  return kernels::WeightView{t.data, wtype_of(t), rows, cols};
}

std::vector<float> vector_f32(const Checkpoint& c, const std::string& name, int64_t n) {
  const TensorInfo& t = c.get(name);
  check_shape(t, {n});
  std::vector<float> v(static_cast<size_t>(n));
  const kernels::WType wt = wtype_of(t);
  for (int64_t i = 0; i < n; ++i) {
    if (wt == kernels::WType::F32) std::memcpy(&v[size_t(i)], t.data + 4 * i, 4);
    else {
      uint16_t h;
      std::memcpy(&h, t.data + 2 * i, 2);
      v[size_t(i)] = wt == kernels::WType::BF16 ? bf16_to_f32(h) : f16_to_f32(h);
    }
  }
  return v;
}

}  // namespace

std::vector<std::pair<std::string, std::vector<int64_t>>> expected_tensors(const ModelConfig& cfg,
                                                                          bool with_lm_head) {
  const int64_t D = cfg.hidden_size, F = cfg.intermediate_size, d = cfg.head_dim;
  std::vector<std::pair<std::string, std::vector<int64_t>>> v;
  v.push_back({"model.embed_tokens.weight", {cfg.vocab_size, D}});
  v.push_back({"model.norm.weight", {D}});
  if (with_lm_head) v.push_back({"lm_head.weight", {cfg.vocab_size, D}});
  for (int i = 0; i < cfg.num_hidden_layers; ++i) {
    v.push_back({layer_name(i, "input_layernorm.weight"), {D}});
    v.push_back({layer_name(i, "post_attention_layernorm.weight"), {D}});
    v.push_back({layer_name(i, "self_attn.q_proj.weight"), {cfg.q_dim(), D}});
    v.push_back({layer_name(i, "self_attn.k_proj.weight"), {cfg.kv_dim(), D}});
    v.push_back({layer_name(i, "self_attn.v_proj.weight"), {cfg.kv_dim(), D}});
    v.push_back({layer_name(i, "self_attn.o_proj.weight"), {D, cfg.q_dim()}});
    v.push_back({layer_name(i, "self_attn.q_norm.weight"), {d}});
    v.push_back({layer_name(i, "self_attn.k_norm.weight"), {d}});
    v.push_back({layer_name(i, "mlp.gate_proj.weight"), {F, D}});
    v.push_back({layer_name(i, "mlp.up_proj.weight"), {F, D}});
    v.push_back({layer_name(i, "mlp.down_proj.weight"), {D, F}});
    if (cfg.has_router_projections(i)) {
      v.push_back({layer_name(i, "self_attn.router_q_proj.0.weight"), {cfg.q_dim(), D}});
      v.push_back({layer_name(i, "self_attn.router_k_proj.0.weight"), {cfg.kv_dim(), D}});
    }
  }
  return v;
}

ModelWeights bind_weights(std::shared_ptr<Checkpoint> ckpt, const ModelConfig& cfg) {
  const Checkpoint& c = *ckpt;
  const int64_t D = cfg.hidden_size, F = cfg.intermediate_size, d = cfg.head_dim;
  ModelWeights w;
  w.checkpoint = ckpt;
  w.embed_tokens = matrix(c, "model.embed_tokens.weight", cfg.vocab_size, D);
  if (c.find("lm_head.weight")) {
    w.lm_head = matrix(c, "lm_head.weight", cfg.vocab_size, D);
  } else {
    MSA_CHECK(cfg.tie_word_embeddings,
              "checkpoint '{}' has no lm_head.weight and config.json has tie_word_embeddings=false",
              c.dir());
    w.lm_head = w.embed_tokens;
    w.lm_head_tied = true;
  }
  w.final_norm = vector_f32(c, "model.norm.weight", D);
  for (int i = 0; i < cfg.num_hidden_layers; ++i) {
    LayerWeights L;
    L.input_layernorm = vector_f32(c, layer_name(i, "input_layernorm.weight"), D);
    L.post_attention_layernorm = vector_f32(c, layer_name(i, "post_attention_layernorm.weight"), D);
    L.q_proj = matrix(c, layer_name(i, "self_attn.q_proj.weight"), cfg.q_dim(), D);
    L.k_proj = matrix(c, layer_name(i, "self_attn.k_proj.weight"), cfg.kv_dim(), D);
    L.v_proj = matrix(c, layer_name(i, "self_attn.v_proj.weight"), cfg.kv_dim(), D);
    L.o_proj = matrix(c, layer_name(i, "self_attn.o_proj.weight"), D, cfg.q_dim());
    L.q_norm = vector_f32(c, layer_name(i, "self_attn.q_norm.weight"), d);
    L.k_norm = vector_f32(c, layer_name(i, "self_attn.k_norm.weight"), d);
    L.gate_proj = matrix(c, layer_name(i, "mlp.gate_proj.weight"), F, D);
    L.up_proj = matrix(c, layer_name(i, "mlp.up_proj.weight"), F, D);
    L.down_proj = matrix(c, layer_name(i, "mlp.down_proj.weight"), D, F);
    if (cfg.has_router_projections(i)) {
      L.router_q_proj = matrix(c, layer_name(i, "self_attn.router_q_proj.0.weight"), cfg.q_dim(), D);
      L.router_k_proj = matrix(c, layer_name(i, "self_attn.router_k_proj.0.weight"), cfg.kv_dim(), D);
    }
    w.layers.push_back(std::move(L));
  }
  // Reject tensors we would silently ignore (usually a config/checkpoint mismatch).
  std::set<std::string> known;
  for (auto& [n, _] : expected_tensors(cfg, true)) known.insert(n);
  for (const std::string& n : c.names()) {
    if (known.count(n) || n == "temperature" || n == "b") continue;
    if (n.find("rotary_emb.inv_freq") != std::string::npos) continue;  // recomputed
    if (n.find("router_q_proj") != std::string::npos || n.find("router_k_proj") != std::string::npos)
      throw_error("{}: unexpected tensor '{}': config.json's msa_config does not make this a "
                  "decoupled routing layer (check router_layer_idx / decouple_router)",
                  c.find(n)->file, n);
    throw_error("{}: unexpected tensor '{}' (not part of a {}-layer Qwen3/MSA model)",
                c.find(n)->file, n, cfg.num_hidden_layers);
  }
  return w;
}

void ModelWeights::embed_row(int64_t id, float* out) const {
  const int64_t D = embed_tokens.cols;
  const int64_t off = id * D;
  switch (embed_tokens.type) {
    case kernels::WType::F32:
      std::memcpy(out, static_cast<const float*>(embed_tokens.data) + off, size_t(D) * 4);
      break;
    case kernels::WType::BF16: {
      const uint16_t* p = static_cast<const uint16_t*>(embed_tokens.data) + off;
      for (int64_t i = 0; i < D; ++i) out[i] = bf16_to_f32(p[i]);
      break;
    }
    case kernels::WType::F16: {
      const uint16_t* p = static_cast<const uint16_t*>(embed_tokens.data) + off;
      for (int64_t i = 0; i < D; ++i) out[i] = f16_to_f32(p[i]);
      break;
    }
  }
}

}  // namespace msa::model
