// Trainable parameters of an MSA model as one flat fp32 buffer (gradients and
// AdamW moments share the layout), named exactly like the HF checkpoint
// tensors (model::expected_tensors), so saving is a plain safetensors write.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "model/config.h"

namespace msa::train {

struct ParamEntry {
  std::string name;
  std::vector<int64_t> shape;
  size_t offset = 0, size = 0;
  bool matrix = false;  // weight decay applies to matrices only
};

// Offsets of one layer's tensors into the flat buffer (npos when absent).
struct LayerOffsets {
  size_t in_norm, post_norm, q_norm, k_norm, wq, wk, wv, wo, wg, wu, wd;
  size_t rq = SIZE_MAX, rk = SIZE_MAX;
};

class ParamLayout {
 public:
  explicit ParamLayout(const model::ModelConfig& cfg);
  const model::ModelConfig& config() const { return cfg_; }
  const std::vector<ParamEntry>& entries() const { return entries_; }
  size_t total() const { return total_; }
  size_t embed() const { return embed_; }
  size_t final_norm() const { return final_norm_; }
  const LayerOffsets& layer(int l) const { return layers_[size_t(l)]; }
  const ParamEntry* find(const std::string& name) const;

 private:
  model::ModelConfig cfg_;
  std::vector<ParamEntry> entries_;
  std::vector<LayerOffsets> layers_;
  size_t total_ = 0, embed_ = 0, final_norm_ = 0;
};

// Norm weights 1, matrices N(0, std²) (deterministic for the seed).
void init_params(const ParamLayout& L, uint64_t seed, float std, std::vector<float>* w);

// Writes `dir`/config.json (MSA-4B format) + model.safetensors (f32). Atomic per file.
void save_model_dir(const ParamLayout& L, const std::vector<float>& w, const std::string& dir);
// Reads the f32 tensors of a model.safetensors written by save_model_dir (or any
// f32/bf16 checkpoint of the same shapes) into w.
void load_params(const ParamLayout& L, const std::string& safetensors_path, std::vector<float>* w);

// Extra flat buffers (optimizer moments) as safetensors tensors "name" [n].
void save_flat(const std::string& path, const std::vector<std::pair<std::string, const std::vector<float>*>>& bufs);
void load_flat(const std::string& path, const std::vector<std::pair<std::string, std::vector<float>*>>& bufs);

}  // namespace msa::train
