#include "train/params.h"

#include <cstring>
#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "core/half.h"
#include "model/safetensors.h"
#include "model/weights.h"

namespace msa::train {

namespace fs = std::filesystem;

ParamLayout::ParamLayout(const model::ModelConfig& cfg) : cfg_(cfg) {
  MSA_CHECK(cfg.tie_word_embeddings, "the trainer supports tied embeddings only");
  for (auto& [name, shape] : model::expected_tensors(cfg, false)) {
    ParamEntry e;
    e.name = name;
    e.shape = shape;
    e.offset = total_;
    e.size = 1;
    for (int64_t s : shape) e.size *= size_t(s);
    e.matrix = shape.size() == 2;
    total_ += (e.size + 15) & ~size_t(15);  // 64-byte aligned tensors
    entries_.push_back(e);
  }
  auto off = [&](const std::string& n) {
    const ParamEntry* e = find(n);
    return e ? e->offset : SIZE_MAX;
  };
  embed_ = off("model.embed_tokens.weight");
  final_norm_ = off("model.norm.weight");
  for (int l = 0; l < cfg.num_hidden_layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    LayerOffsets o;
    o.in_norm = off(p + "input_layernorm.weight");
    o.post_norm = off(p + "post_attention_layernorm.weight");
    o.q_norm = off(p + "self_attn.q_norm.weight");
    o.k_norm = off(p + "self_attn.k_norm.weight");
    o.wq = off(p + "self_attn.q_proj.weight");
    o.wk = off(p + "self_attn.k_proj.weight");
    o.wv = off(p + "self_attn.v_proj.weight");
    o.wo = off(p + "self_attn.o_proj.weight");
    o.wg = off(p + "mlp.gate_proj.weight");
    o.wu = off(p + "mlp.up_proj.weight");
    o.wd = off(p + "mlp.down_proj.weight");
    o.rq = off(p + "self_attn.router_q_proj.0.weight");
    o.rk = off(p + "self_attn.router_k_proj.0.weight");
    layers_.push_back(o);
  }
}

const ParamEntry* ParamLayout::find(const std::string& name) const {
  for (auto& e : entries_)
    if (e.name == name) return &e;
  return nullptr;
}

void init_params(const ParamLayout& L, uint64_t seed, float std, std::vector<float>* w) {
  w->assign(L.total(), 0.f);
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> nd(0.f, std);
  for (auto& e : L.entries()) {
    float* p = w->data() + e.offset;
    if (!e.matrix) {
      for (size_t i = 0; i < e.size; ++i) p[i] = 1.0f;
    } else {
      for (size_t i = 0; i < e.size; ++i) p[i] = nd(rng);
    }
  }
}

void save_model_dir(const ParamLayout& L, const std::vector<float>& w, const std::string& dir) {
  fs::create_directories(dir);
  std::vector<model::TensorToWrite> t;
  for (auto& e : L.entries()) t.push_back({e.name, DType::F32, e.shape, w.data() + e.offset});
  model::write_safetensors((fs::path(dir) / "model.safetensors").string(), t, {{"format", "pt"}});
  model::ModelConfig c = L.config();
  c.torch_dtype = "float32";
  const std::string tmp = (fs::path(dir) / "config.json.tmp").string();
  {
    std::ofstream f(tmp, std::ios::binary);
    f << model::model_config_to_json(c) << "\n";
    MSA_CHECK(f.good(), "cannot write '{}'", tmp);
  }
  fs::rename(tmp, fs::path(dir) / "config.json");
}

void load_params(const ParamLayout& L, const std::string& path, std::vector<float>* w) {
  model::SafetensorsFile f(path);
  w->assign(L.total(), 0.f);
  for (auto& e : L.entries()) {
    auto it = f.tensors().find(e.name);
    MSA_CHECK(it != f.tensors().end(), "{}: missing tensor '{}'", path, e.name);
    const model::TensorInfo& ti = it->second;
    MSA_CHECK(ti.shape == e.shape, "{}: tensor '{}' has shape {}, expected {}", path, e.name, ti.shape_str(),
              model::format_shape(e.shape));
    float* p = w->data() + e.offset;
    if (ti.dtype == DType::F32) {
      std::memcpy(p, ti.data, e.size * 4);
    } else if (ti.dtype == DType::BF16) {
      for (size_t i = 0; i < e.size; ++i) {
        uint16_t h;
        std::memcpy(&h, ti.data + 2 * i, 2);
        p[i] = bf16_to_f32(h);
      }
    } else {
      throw_error("{}: tensor '{}' must be F32 or BF16", path, e.name);
    }
  }
}

void save_flat(const std::string& path, const std::vector<std::pair<std::string, const std::vector<float>*>>& bufs) {
  std::vector<model::TensorToWrite> t;
  for (auto& [n, b] : bufs) t.push_back({n, DType::F32, {int64_t(b->size())}, b->data()});
  model::write_safetensors(path, t);
}

void load_flat(const std::string& path, const std::vector<std::pair<std::string, std::vector<float>*>>& bufs) {
  model::SafetensorsFile f(path);
  for (auto& [n, b] : bufs) {
    auto it = f.tensors().find(n);
    MSA_CHECK(it != f.tensors().end() && it->second.dtype == DType::F32, "{}: missing f32 tensor '{}'", path, n);
    b->resize(size_t(it->second.numel()));
    std::memcpy(b->data(), it->second.data, b->size() * 4);
  }
}

}  // namespace msa::train
