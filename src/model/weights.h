// Model weights bound to checkpoint tensors: matrices are read in place from
// the mmap'd safetensors (zero copy); the small norm vectors are widened to f32.
// Loading validates names, shapes and dtypes against the config and rejects
// missing or unexpected tensors with a message naming the tensor and file.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "kernels/matmul.h"
#include "model/config.h"
#include "model/safetensors.h"

namespace msa::model {

struct LayerWeights {
  kernels::WeightView q_proj, k_proj, v_proj, o_proj;
  kernels::WeightView gate_proj, up_proj, down_proj;
  kernels::WeightView router_q_proj, router_k_proj;  // data == nullptr unless decoupled router layer
  std::vector<float> input_layernorm, post_attention_layernorm, q_norm, k_norm;
};

struct ModelWeights {
  kernels::WeightView embed_tokens;  // [vocab, hidden]
  kernels::WeightView lm_head;       // [vocab, hidden]; = embed_tokens when tied
  bool lm_head_tied = false;
  std::vector<float> final_norm;
  std::vector<LayerWeights> layers;
  std::shared_ptr<Checkpoint> checkpoint;  // owns the mappings

  // Copies embedding row `id` into out[hidden] as f32.
  void embed_row(int64_t id, float* out) const;
};

// Binds and validates all tensors of `ckpt` for config `cfg`.
ModelWeights bind_weights(std::shared_ptr<Checkpoint> ckpt, const ModelConfig& cfg);

// Tensor names this config requires (tests and checkpoint writers use it).
std::vector<std::pair<std::string, std::vector<int64_t>>> expected_tensors(const ModelConfig& cfg,
                                                                          bool with_lm_head);

}  // namespace msa::model
