#include "model/forward.h"

#include "core/error.h"
#include "kernels/matmul.h"
#include "kernels/rmsnorm.h"
#include "kernels/rope.h"
#include "kernels/swiglu.h"

namespace msa::model {

void embed(const Model& m, const int32_t* ids, int64_t T, float* h) {
  const auto& cfg = m.config();
  for (int64_t t = 0; t < T; ++t) {
    MSA_CHECK(ids[t] >= 0 && ids[t] < cfg.vocab_size,
              "token id {} at position {} is outside the vocabulary (size {})", ids[t], t,
              cfg.vocab_size);
    m.weights().embed_row(ids[t], h + t * cfg.hidden_size);
  }
}

void attention_inputs(const Model& m, int layer, const float* h, int64_t T, const int32_t* pos,
                      AttentionInputs* out) {
  const auto& cfg = m.config();
  const auto& L = m.weights().layers[size_t(layer)];
  const int64_t D = cfg.hidden_size, d = cfg.head_dim;
  out->T = T;
  out->xhat.resize(size_t(T * D));
  out->q.resize(size_t(T * cfg.q_dim()));
  out->k.resize(size_t(T * cfg.kv_dim()));
  out->v.resize(size_t(T * cfg.kv_dim()));
  kernels::rmsnorm(h, L.input_layernorm.data(), T, D, cfg.rms_norm_eps, out->xhat.data());
  kernels::matmul(out->xhat.data(), T, L.q_proj, out->q.data());
  kernels::matmul(out->xhat.data(), T, L.k_proj, out->k.data());
  kernels::matmul(out->xhat.data(), T, L.v_proj, out->v.data());
  kernels::rmsnorm(out->q.data(), L.q_norm.data(), T * cfg.num_attention_heads, d,
                   cfg.rms_norm_eps, out->q.data());
  kernels::rmsnorm(out->k.data(), L.k_norm.data(), T * cfg.num_key_value_heads, d,
                   cfg.rms_norm_eps, out->k.data());
  kernels::rope_apply(out->q.data(), T, cfg.num_attention_heads, d, pos, cfg.rope_theta);
  kernels::rope_apply(out->k.data(), T, cfg.num_key_value_heads, d, pos, cfg.rope_theta);
}

void router_queries(const Model& m, int layer, const float* xhat, int64_t T, float* u) {
  const auto& L = m.weights().layers[size_t(layer)];
  MSA_ASSERT(L.router_q_proj.data != nullptr);
  kernels::matmul(xhat, T, L.router_q_proj, u);
}

void router_keys(const Model& m, int layer, const float* xhat, int64_t T, float* r) {
  const auto& L = m.weights().layers[size_t(layer)];
  MSA_ASSERT(L.router_k_proj.data != nullptr);
  kernels::matmul(xhat, T, L.router_k_proj, r);
}

void attention_output_and_mlp(const Model& m, int layer, const float* attn, int64_t T, float* h) {
  const auto& cfg = m.config();
  const auto& L = m.weights().layers[size_t(layer)];
  const int64_t D = cfg.hidden_size, F = cfg.intermediate_size;
  AlignedBuffer<float> tmp(size_t(T * D)), y(size_t(T * D));
  kernels::matmul(attn, T, L.o_proj, tmp.data());
  for (int64_t i = 0; i < T * D; ++i) h[i] += tmp[size_t(i)];
  kernels::rmsnorm(h, L.post_attention_layernorm.data(), T, D, cfg.rms_norm_eps, y.data());
  AlignedBuffer<float> gate(size_t(T * F)), up(size_t(T * F));
  kernels::matmul(y.data(), T, L.gate_proj, gate.data());
  kernels::matmul(y.data(), T, L.up_proj, up.data());
  kernels::swiglu(gate.data(), up.data(), T * F, gate.data());
  kernels::matmul(gate.data(), T, L.down_proj, tmp.data());
  for (int64_t i = 0; i < T * D; ++i) h[i] += tmp[size_t(i)];
}

void final_logits(const Model& m, const float* h, int64_t T, float* logits) {
  const auto& cfg = m.config();
  AlignedBuffer<float> y(size_t(T * cfg.hidden_size));
  kernels::rmsnorm(h, m.weights().final_norm.data(), T, cfg.hidden_size, cfg.rms_norm_eps,
                   y.data());
  kernels::matmul(y.data(), T, m.weights().lm_head, logits);
}

}  // namespace msa::model
