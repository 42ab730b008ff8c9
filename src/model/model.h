// A loaded model: config.json + safetensors weights (mmap'd) of a Qwen3 or
// MSA checkpoint directory in the HuggingFace layout.
#pragma once

#include <memory>
#include <string>

#include "model/config.h"
#include "model/weights.h"

namespace msa::model {

struct LoadOptions {
  // For a plain Qwen3 checkpoint (no msa_config): enable "training-free MSA"
  // — route with the model's own q and pooled K (decouple_router = false).
  bool training_free_msa = false;
  std::string training_free_layers;  // router_layer_idx syntax; default: upper half
  int training_free_pooling = 64;
};

class Model {
 public:
  static std::shared_ptr<Model> load(const std::string& dir, const LoadOptions& opts = {});
  static std::shared_ptr<Model> from_parts(ModelConfig cfg, std::shared_ptr<Checkpoint> ckpt,
                                           std::string dir);

  const ModelConfig& config() const { return cfg_; }
  const ModelWeights& weights() const { return w_; }
  const std::string& dir() const { return dir_; }
  bool is_msa() const { return cfg_.msa.present; }

 private:
  ModelConfig cfg_;
  ModelWeights w_;
  std::string dir_;
};

}  // namespace msa::model
