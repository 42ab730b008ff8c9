// Training-side fp32 operations with hand-written backward passes (spec §1.1,
// §3.6, §4.4, §7.3). Single-threaded on purpose: the trainer parallelises
// coarsely (whole memories per thread, see step.h), never inside an op — on a
// shared 2-core machine intra-op thread sync costs more than these tiny ops.
//
// Layout: row-major; activations [T, n]; weights HF-style [out, in].
// Backward functions ACCUMULATE (+=) into parameter gradients; activation
// gradients are overwritten unless the name says accumulate.
#pragma once

#include <cstdint>
#include <vector>

namespace msa::train {

// Single-threaded BLAS for this process (call once; harmless to repeat).
void init_blas_single_thread();

// y[T,N] = x[T,K] · W[N,K]ᵀ
void linear(const float* x, int64_t T, int64_t K, const float* W, int64_t N, float* y);
// dx[T,K] = (accumulate ? dx : 0) + dy[T,N] · W ;  dW[N,K] += dyᵀ · x  (dW may be null)
void linear_backward(const float* x, const float* dy, int64_t T, int64_t K, const float* W, int64_t N,
                     float* dx, bool accumulate_dx, float* dW);

// y = w ⊙ x · r, r = 1/sqrt(mean(x²) + eps) per row; rstd[rows] saved for backward.
void rmsnorm_fwd(const float* x, const float* w, int64_t rows, int64_t n, float eps, float* y, float* rstd);
// dx (overwritten, or added when accumulate) ; dw += Σ_rows dy ⊙ x·r.
void rmsnorm_bwd(const float* x, const float* w, const float* rstd, const float* dy, int64_t rows, int64_t n,
                 float* dx, bool accumulate_dx, float* dw);

// RoPE tables (rotate-half): cos/sin[pos][d/2] with the inference kernel's f32 angle.
struct RopeTable {
  int64_t d = 0, max_pos = 0;
  std::vector<float> cos, sin;
  void build(int64_t head_dim, int64_t max_positions, float theta);
};
void rope_fwd(float* x, int64_t T, int64_t heads, const int32_t* pos, const RopeTable& rt);
void rope_bwd(float* dx, int64_t T, int64_t heads, const int32_t* pos, const RopeTable& rt);

// out = SiLU(g) ⊙ u ; backward gives dg, du (overwritten).
void swiglu_fwd(const float* g, const float* u, int64_t n, float* out);
void swiglu_bwd(const float* g, const float* u, const float* dout, int64_t n, float* dg, float* du);

// Causal GQA attention of Tq query rows over a context of Tk = prefix + Tq rows
// (bottom-right causal: query i sees context rows 0 .. prefix + i). q: [Tq,Hq,d],
// k/v: [Tk,Hkv,d], out: [Tq,Hq,d]. probs: [Hq, Tq, Tk] saved for backward.
struct AttnDims {
  int64_t Tq = 0, Tk = 0, Hq = 0, Hkv = 0, d = 0;
};
void attention_fwd(const float* q, const float* k, const float* v, const AttnDims& s, float* out, float* probs);
// dq overwritten; dk, dv accumulated (+=).
void attention_bwd(const float* q, const float* k, const float* v, const AttnDims& s, const float* probs,
                   const float* dout, float* dq, float* dk, float* dv);


// y = x / max(‖x‖, 1e-12) per row of length d; norms[rows] saved.
void l2norm_fwd(const float* x, int64_t rows, int64_t d, float* y, float* norms);
// dx += (dy − y (y·dy)) / norm  (accumulates).
void l2norm_bwd(const float* y, const float* norms, const float* dy, int64_t rows, int64_t d, float* dx);

// Softmax cross-entropy of logits [V] against target; returns loss, writes
// dlogits = scale · (softmax − onehot).
double softmax_xent(const float* logits, int64_t V, int32_t target, float scale, float* dlogits);

// INFONCE_DECOUPLE (spec §7.3) over document scores s[N] with positive flags:
// loss = mean over positives i of −log(e_i / (e_i + Σ_neg e_j)), e = exp(s/τ).
// ds (overwritten) = scale · dloss/ds. Returns the loss (0 when no positive).
double infonce_decouple(const float* s, const uint8_t* positive, int64_t N, float tau, float scale, float* ds);

}  // namespace msa::train
