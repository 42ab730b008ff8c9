// The Qwen3 decoder's operations, one function per step of a layer (spec §1.1),
// composed by the memory encoder (stage 1) and the engine (stages 2 and 3) —
// which is where MSA differs from a plain decoder: what the attention sees.
//
// Shapes: T tokens; D hidden; Hq·d query width; Hkv·d key/value width.
#pragma once

#include <cstdint>

#include "core/aligned_buffer.h"
#include "model/model.h"

namespace msa::model {

// x̂ and the attention projections of T tokens for one layer.
struct AttentionInputs {
  int64_t T = 0;
  AlignedBuffer<float> xhat;  // [T, D]  input_layernorm(h)
  AlignedBuffer<float> q;     // [T, Hq*d]  after q_norm and RoPE
  AlignedBuffer<float> k;     // [T, Hkv*d] after k_norm and RoPE
  AlignedBuffer<float> v;     // [T, Hkv*d]
};

// h[T, D] = embedding rows (ids validated against the vocabulary).
void embed(const Model& m, const int32_t* ids, int64_t T, float* h);

// x̂ = RMSNorm(h); q, k, v projections; per-head q/k RMSNorm; RoPE at `pos`.
void attention_inputs(const Model& m, int layer, const float* h, int64_t T, const int32_t* pos,
                      AttentionInputs* out);

// Router projections of a decoupled routing layer (no norm, no RoPE).
void router_queries(const Model& m, int layer, const float* xhat, int64_t T, float* u);  // [T, Hq*d]
void router_keys(const Model& m, int layer, const float* xhat, int64_t T, float* r);     // [T, Hkv*d]

// h += o_proj(attn); h += MLP(RMSNorm(h; post_attention_layernorm)).  attn: [T, Hq*d].
void attention_output_and_mlp(const Model& m, int layer, const float* attn, int64_t T, float* h);

// logits[T, V] = lm_head(RMSNorm(h; model.norm)).
void final_logits(const Model& m, const float* h, int64_t T, float* logits);

}  // namespace msa::model
