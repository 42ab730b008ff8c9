#include "train/step.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <thread>

#include "core/error.h"
#include "kernels/pooling.h"

namespace msa::train {

void StepStats::add(const StepStats& o) {
  lm_sum += o.lm_sum; lm_id_sum += o.lm_id_sum; lm_ans_sum += o.lm_ans_sum; rec_sum += o.rec_sum;
  aux_sum += o.aux_sum;
  lm_n += o.lm_n; lm_id_n += o.lm_id_n; lm_ans_n += o.lm_ans_n; rec_n += o.rec_n; aux_n += o.aux_n;
  if (recall1.size() < o.recall1.size()) {
    recall1.resize(o.recall1.size());
    recallk.resize(o.recall1.size());
    recall_n.resize(o.recall1.size());
  }
  for (size_t i = 0; i < o.recall1.size(); ++i) {
    recall1[i] += o.recall1[i];
    recallk[i] += o.recallk[i];
    recall_n[i] += o.recall_n[i];
  }
  doc_tokens += o.doc_tokens;
  row_tokens += o.row_tokens;
}

namespace {

template <class T>
void ensure(std::vector<T>& v, size_t n) {
  if (v.size() < n) v.resize(n);
}
void zero(std::vector<float>& v, size_t n) {
  ensure(v, n);
  std::memset(v.data(), 0, n * sizeof(float));
}

// Saved activations of one layer for T tokens.
struct LayerActs {
  std::vector<float> h_in, xhat, rstd1, qraw, kraw, qn_rstd, kn_rstd, q, k, v, probs, attn, h_mid, y, rstd2, gate,
      up, act;
};

// Per routing layer and row: routing state kept for the aux backward.
struct RowRouting {
  std::vector<int64_t> rtok;      // row positions of routing tokens
  std::vector<float> xr, u, un, unorm;  // gathered x̂ [Tr,D], raw u, normalised ũ, norms [Tr*Hq]
  std::vector<float> S;           // [N] document scores (hard max: selection, as inference)
  std::vector<float> sct;         // [C*Tr] token-chunk scores
  std::vector<float> Ssm;         // [N] smooth-max scores (aux loss) when StepOptions::smooth_max > 0
  std::vector<int64_t> best_c;    // [N] argmax chunk (global chunk index)
  std::vector<int64_t> best_t;    // [C] argmax routing token per chunk
  std::vector<float> dS;          // [N] aux gradient
  std::vector<int64_t> selected;  // ascending
  bool has_aux = false;
};

// Pooled memory of one episode, per routing slot.
struct Pooled {
  std::vector<int64_t> chunk_begin;  // [N+1]
  std::vector<std::vector<float>> pk, pv, rraw, rn, rnorm;  // [slot][C*kvd] (rnorm [C*Hkv])
  std::vector<std::vector<float>> dpk, dpv, drn;           // gradients
};

}  // namespace

class Worker {
 public:
  Worker(const ParamLayout& L) : L_(L), c_(L.config()) {
    D = c_.hidden_size; F = c_.intermediate_size; NL = int(c_.num_hidden_layers); Hq = c_.num_attention_heads;
    Hkv = c_.num_key_value_heads; d = c_.head_dim; V = c_.vocab_size; qd = c_.q_dim(); kvd = c_.kv_dim();
    P = c_.msa.pooling_kernel_size; eps = c_.rms_norm_eps;
    rope_.build(d, c_.max_position_embeddings, c_.rope_theta);
    slot_of_.assign(size_t(NL), -1);
    for (size_t i = 0; i < c_.msa.routing_layers.size(); ++i) slot_of_[size_t(c_.msa.routing_layers[i])] = int(i);
    nslots = int(c_.msa.routing_layers.size());
  }

  // Runs episodes [ids] into grad_ (zeroed first) and returns their stats.
  StepStats run(const std::vector<float>& w, const Batch& b, const std::vector<int>& eps_ids, const StepOptions& o,
                double lm_scale, double rec_scale, double aux_scale, bool want_grad);

  RowTrace trace(const std::vector<float>& w, const Batch& b, int e, int r, const StepOptions& o);

  std::vector<float> grad_;

 private:
  // ---- sequence streams (template, documents): block-diagonal causal ----
  struct Stream {
    int64_t T = 0;
    std::vector<int64_t> begin;  // [nseq+1]
    std::vector<size_t> poff;    // probs offset per sequence
    std::vector<int32_t> ids, pos;
    std::vector<LayerActs> acts;
    std::vector<float> h_final;
  };

  const float* P_(size_t off) const { return W_ + off; }
  float* G_(size_t off) { return grad_.data() + off; }

  void pre_fwd(int l, LayerActs& a, int64_t T, const int32_t* pos);
  void post_fwd(int l, LayerActs& a, int64_t T, float* h_out);
  void post_bwd(int l, LayerActs& a, int64_t T, const float* dh);  // -> dh_mid_, dattn_
  void pre_bwd(int l, LayerActs& a, int64_t T, const int32_t* pos, float* dh_in);  // uses dq_, dk_, dv_, dxhat_

  void stream_fwd(Stream& s, Pooled* pooled);
  void stream_bwd(Stream& s, Pooled* pooled, std::vector<std::vector<float>>* dTK,
                  std::vector<std::vector<float>>* dTV, const float* dh_final);
  void embed_fwd(const int32_t* ids, int64_t T, float* h);
  void embed_bwd(const int32_t* ids, int64_t T, const float* dh);
  // Final norm + tied LM head + CE at `rows` of h (positions) with targets; accumulates dh.
  double lm_head_loss(const float* h, const std::vector<int64_t>& rows, const std::vector<int32_t>& targets,
                      float scale, float* dh, std::vector<double>* per_token, bool want_grad,
                      std::vector<float>* logits_out);

  void row_fwd(const Episode& ep, const TrainRow& row, Pooled& pooled, const StepOptions& o, double aux_scale,
               StepStats* st, bool want_aux_grad);
  void row_bwd(const TrainRow& row, Pooled& pooled);

  const ParamLayout& L_;
  const model::ModelConfig& c_;
  const float* W_ = nullptr;
  int64_t D, F, Hq, Hkv, d, V, qd, kvd, P;
  int NL, nslots;
  float eps;
  RopeTable rope_;
  std::vector<int> slot_of_;

  Stream tmpl_, docs_;
  std::vector<std::vector<float>> dTK_, dTV_;  // template K/V gradients per layer [3*kvd]

  // Row state.
  int64_t rowT_ = 0;
  float smooth_max_ = 0;
  std::vector<int32_t> rowpos_;
  std::vector<LayerActs> racts_;
  std::vector<float> rh_final_;
  std::vector<std::vector<float>> kctx_, vctx_;  // per layer
  std::vector<int64_t> tk_;                        // per layer context rows
  std::vector<std::vector<int64_t>> ctx_chunks_;   // per layer: global chunk indices in the context
  std::vector<RowRouting> rr_;                     // per slot
  std::vector<float> rdh_final_;

  // Scratch.
  std::vector<float> dh_, dh2_, dh_mid_, dattn_, dact_, dgate_, dup_, dy_, dq_, dk_, dv_, dqraw_, dkraw_, dxhat_,
      dkctx_, dvctx_, tmp_, logits_, dlogits_, fy_, frstd_, dfy_, du_, dun_, dxr_, dr_, drraw_;
};

void Worker::embed_fwd(const int32_t* ids, int64_t T, float* h) {
  const float* E = P_(L_.embed());
  for (int64_t t = 0; t < T; ++t) {
    MSA_CHECK(ids[t] >= 0 && ids[t] < V, "token id {} outside the vocabulary ({})", ids[t], V);
    std::memcpy(h + t * D, E + int64_t(ids[t]) * D, size_t(D) * 4);
  }
}

void Worker::embed_bwd(const int32_t* ids, int64_t T, const float* dh) {
  float* dE = G_(L_.embed());
  for (int64_t t = 0; t < T; ++t) {
    float* g = dE + int64_t(ids[t]) * D;
    for (int64_t i = 0; i < D; ++i) g[i] += dh[t * D + i];
  }
}

void Worker::pre_fwd(int l, LayerActs& a, int64_t T, const int32_t* pos) {
  const LayerOffsets& o = L_.layer(l);
  ensure(a.xhat, size_t(T * D)); ensure(a.rstd1, size_t(T)); ensure(a.qraw, size_t(T * qd));
  ensure(a.kraw, size_t(T * kvd)); ensure(a.q, size_t(T * qd)); ensure(a.k, size_t(T * kvd));
  ensure(a.v, size_t(T * kvd)); ensure(a.qn_rstd, size_t(T * Hq)); ensure(a.kn_rstd, size_t(T * Hkv));
  rmsnorm_fwd(a.h_in.data(), P_(o.in_norm), T, D, eps, a.xhat.data(), a.rstd1.data());
  linear(a.xhat.data(), T, D, P_(o.wq), qd, a.qraw.data());
  linear(a.xhat.data(), T, D, P_(o.wk), kvd, a.kraw.data());
  linear(a.xhat.data(), T, D, P_(o.wv), kvd, a.v.data());
  rmsnorm_fwd(a.qraw.data(), P_(o.q_norm), T * Hq, d, eps, a.q.data(), a.qn_rstd.data());
  rmsnorm_fwd(a.kraw.data(), P_(o.k_norm), T * Hkv, d, eps, a.k.data(), a.kn_rstd.data());
  rope_fwd(a.q.data(), T, Hq, pos, rope_);
  rope_fwd(a.k.data(), T, Hkv, pos, rope_);
}

void Worker::post_fwd(int l, LayerActs& a, int64_t T, float* h_out) {
  const LayerOffsets& o = L_.layer(l);
  ensure(a.h_mid, size_t(T * D)); ensure(a.y, size_t(T * D)); ensure(a.rstd2, size_t(T));
  ensure(a.gate, size_t(T * F)); ensure(a.up, size_t(T * F)); ensure(a.act, size_t(T * F));
  linear(a.attn.data(), T, qd, P_(o.wo), D, a.h_mid.data());
  for (int64_t i = 0; i < T * D; ++i) a.h_mid[size_t(i)] += a.h_in[size_t(i)];
  rmsnorm_fwd(a.h_mid.data(), P_(o.post_norm), T, D, eps, a.y.data(), a.rstd2.data());
  linear(a.y.data(), T, D, P_(o.wg), F, a.gate.data());
  linear(a.y.data(), T, D, P_(o.wu), F, a.up.data());
  swiglu_fwd(a.gate.data(), a.up.data(), T * F, a.act.data());
  linear(a.act.data(), T, F, P_(o.wd), D, h_out);
  for (int64_t i = 0; i < T * D; ++i) h_out[i] += a.h_mid[size_t(i)];
}

void Worker::post_bwd(int l, LayerActs& a, int64_t T, const float* dh) {
  const LayerOffsets& o = L_.layer(l);
  ensure(dact_, size_t(T * F)); ensure(dgate_, size_t(T * F)); ensure(dup_, size_t(T * F));
  ensure(dy_, size_t(T * D)); ensure(dh_mid_, size_t(T * D)); ensure(dattn_, size_t(T * qd));
  linear_backward(a.act.data(), dh, T, F, P_(o.wd), D, dact_.data(), false, G_(o.wd));
  swiglu_bwd(a.gate.data(), a.up.data(), dact_.data(), T * F, dgate_.data(), dup_.data());
  linear_backward(a.y.data(), dgate_.data(), T, D, P_(o.wg), F, dy_.data(), false, G_(o.wg));
  linear_backward(a.y.data(), dup_.data(), T, D, P_(o.wu), F, dy_.data(), true, G_(o.wu));
  std::memcpy(dh_mid_.data(), dh, size_t(T * D) * 4);
  rmsnorm_bwd(a.h_mid.data(), P_(o.post_norm), a.rstd2.data(), dy_.data(), T, D, dh_mid_.data(), true,
              G_(o.post_norm));
  linear_backward(a.attn.data(), dh_mid_.data(), T, qd, P_(o.wo), D, dattn_.data(), false, G_(o.wo));
}

void Worker::pre_bwd(int l, LayerActs& a, int64_t T, const int32_t* pos, float* dh_in) {
  const LayerOffsets& o = L_.layer(l);
  ensure(dqraw_, size_t(T * qd)); ensure(dkraw_, size_t(T * kvd));
  rope_bwd(dq_.data(), T, Hq, pos, rope_);
  rope_bwd(dk_.data(), T, Hkv, pos, rope_);
  rmsnorm_bwd(a.qraw.data(), P_(o.q_norm), a.qn_rstd.data(), dq_.data(), T * Hq, d, dqraw_.data(), false,
              G_(o.q_norm));
  rmsnorm_bwd(a.kraw.data(), P_(o.k_norm), a.kn_rstd.data(), dk_.data(), T * Hkv, d, dkraw_.data(), false,
              G_(o.k_norm));
  linear_backward(a.xhat.data(), dqraw_.data(), T, D, P_(o.wq), qd, dxhat_.data(), true, G_(o.wq));
  linear_backward(a.xhat.data(), dkraw_.data(), T, D, P_(o.wk), kvd, dxhat_.data(), true, G_(o.wk));
  linear_backward(a.xhat.data(), dv_.data(), T, D, P_(o.wv), kvd, dxhat_.data(), true, G_(o.wv));
  std::memcpy(dh_in, dh_mid_.data(), size_t(T * D) * 4);
  rmsnorm_bwd(a.h_in.data(), P_(o.in_norm), a.rstd1.data(), dxhat_.data(), T, D, dh_in, true, G_(o.in_norm));
}

void Worker::stream_fwd(Stream& s, Pooled* pooled) {
  const int64_t T = s.T;
  const size_t nseq = s.begin.size() - 1;
  s.acts.resize(size_t(NL));
  s.poff.resize(nseq + 1);
  s.poff[0] = 0;
  for (size_t i = 0; i < nseq; ++i) {
    const int64_t n = s.begin[i + 1] - s.begin[i];
    s.poff[i + 1] = s.poff[i] + size_t(Hq * n * n);
  }
  ensure(s.acts[0].h_in, size_t(T * D));
  embed_fwd(s.ids.data(), T, s.acts[0].h_in.data());
  for (int l = 0; l < NL; ++l) {
    LayerActs& a = s.acts[size_t(l)];
    pre_fwd(l, a, T, s.pos.data());
    ensure(a.attn, size_t(T * qd));
    ensure(a.probs, s.poff[nseq]);
    for (size_t i = 0; i < nseq; ++i) {
      const int64_t b = s.begin[i], n = s.begin[i + 1] - b;
      const AttnDims ad{n, n, Hq, Hkv, d};
      attention_fwd(a.q.data() + b * qd, a.k.data() + b * kvd, a.v.data() + b * kvd, ad, a.attn.data() + b * qd,
                    a.probs.data() + s.poff[i]);
    }
    const int slot = slot_of_[size_t(l)];
    if (pooled && slot >= 0) {
      const int64_t C = pooled->chunk_begin.back();
      auto& pk = pooled->pk[size_t(slot)];
      auto& pv = pooled->pv[size_t(slot)];
      auto& rraw = pooled->rraw[size_t(slot)];
      auto& rn = pooled->rn[size_t(slot)];
      auto& rnorm = pooled->rnorm[size_t(slot)];
      ensure(pk, size_t(C * kvd)); ensure(pv, size_t(C * kvd)); ensure(rraw, size_t(C * kvd));
      ensure(rn, size_t(C * kvd)); ensure(rnorm, size_t(C * Hkv));
      ensure(dr_, size_t(T * kvd));
      linear(a.xhat.data(), T, D, P_(L_.layer(l).rk), kvd, dr_.data());  // router keys (scratch)
      for (size_t i = 0; i < nseq; ++i) {
        const int64_t b = s.begin[i], n = s.begin[i + 1] - b, c0 = pooled->chunk_begin[i];
        kernels::mean_pool_chunks(a.k.data() + b * kvd, n, kvd, P, pk.data() + c0 * kvd);
        kernels::mean_pool_chunks(a.v.data() + b * kvd, n, kvd, P, pv.data() + c0 * kvd);
        kernels::mean_pool_chunks(dr_.data() + b * kvd, n, kvd, P, rraw.data() + c0 * kvd);
      }
      l2norm_fwd(rraw.data(), C * Hkv, d, rn.data(), rnorm.data());
    }
    float* h_out;
    if (l + 1 < NL) {
      ensure(s.acts[size_t(l + 1)].h_in, size_t(T * D));
      h_out = s.acts[size_t(l + 1)].h_in.data();
    } else {
      ensure(s.h_final, size_t(T * D));
      h_out = s.h_final.data();
    }
    post_fwd(l, a, T, h_out);
  }
}

void Worker::stream_bwd(Stream& s, Pooled* pooled, std::vector<std::vector<float>>* dTK,
                        std::vector<std::vector<float>>* dTV, const float* dh_final) {
  const int64_t T = s.T;
  const size_t nseq = s.begin.size() - 1;
  ensure(dh_, size_t(T * D));
  ensure(dh2_, size_t(T * D));
  std::memcpy(dh_.data(), dh_final, size_t(T * D) * 4);
  for (int l = NL - 1; l >= 0; --l) {
    LayerActs& a = s.acts[size_t(l)];
    post_bwd(l, a, T, dh_.data());
    ensure(dq_, size_t(T * qd));
    zero(dk_, size_t(T * kvd));
    zero(dv_, size_t(T * kvd));
    zero(dxhat_, size_t(T * D));
    for (size_t i = 0; i < nseq; ++i) {
      const int64_t b = s.begin[i], n = s.begin[i + 1] - b;
      const AttnDims ad{n, n, Hq, Hkv, d};
      attention_bwd(a.q.data() + b * qd, a.k.data() + b * kvd, a.v.data() + b * kvd, ad, a.probs.data() + s.poff[i],
                    dattn_.data() + b * qd, dq_.data() + b * qd, dk_.data() + b * kvd, dv_.data() + b * kvd);
    }
    const int slot = slot_of_[size_t(l)];
    if (pooled && slot >= 0) {
      const int64_t C = pooled->chunk_begin.back();
      zero(drraw_, size_t(C * kvd));
      l2norm_bwd(pooled->rn[size_t(slot)].data(), pooled->rnorm[size_t(slot)].data(),
                 pooled->drn[size_t(slot)].data(), C * Hkv, d, drraw_.data());
      zero(dr_, size_t(T * kvd));
      for (size_t i = 0; i < nseq; ++i) {
        const int64_t b = s.begin[i], n = s.begin[i + 1] - b, c0 = pooled->chunk_begin[i];
        kernels::mean_pool_chunks_backward(pooled->dpk[size_t(slot)].data() + c0 * kvd, n, kvd, P, dk_.data() + b * kvd);
        kernels::mean_pool_chunks_backward(pooled->dpv[size_t(slot)].data() + c0 * kvd, n, kvd, P, dv_.data() + b * kvd);
        kernels::mean_pool_chunks_backward(drraw_.data() + c0 * kvd, n, kvd, P, dr_.data() + b * kvd);
      }
      linear_backward(a.xhat.data(), dr_.data(), T, D, P_(L_.layer(l).rk), kvd, dxhat_.data(), true,
                      G_(L_.layer(l).rk));
    }
    if (dTK) {
      const auto& gk = (*dTK)[size_t(l)];
      const auto& gv = (*dTV)[size_t(l)];
      for (int64_t i = 0; i < T * kvd; ++i) {
        dk_[size_t(i)] += gk[size_t(i)];
        dv_[size_t(i)] += gv[size_t(i)];
      }
    }
    pre_bwd(l, a, T, s.pos.data(), dh2_.data());
    std::swap(dh_, dh2_);
  }
  embed_bwd(s.ids.data(), T, dh_.data());
}

double Worker::lm_head_loss(const float* h, const std::vector<int64_t>& rows, const std::vector<int32_t>& targets,
                            float scale, float* dh, std::vector<double>* per_token, bool want_grad,
                            std::vector<float>* logits_out) {
  const int64_t n = int64_t(rows.size());
  if (n == 0) return 0.0;
  ensure(tmp_, size_t(n * D)); ensure(fy_, size_t(n * D)); ensure(frstd_, size_t(n));
  for (int64_t i = 0; i < n; ++i) std::memcpy(tmp_.data() + i * D, h + rows[size_t(i)] * D, size_t(D) * 4);
  rmsnorm_fwd(tmp_.data(), P_(L_.final_norm()), n, D, eps, fy_.data(), frstd_.data());
  ensure(logits_, size_t(n * V)); ensure(dlogits_, size_t(n * V));
  linear(fy_.data(), n, D, P_(L_.embed()), V, logits_.data());
  if (logits_out) logits_out->assign(logits_.begin(), logits_.begin() + n * V);
  double total = 0;
  if (per_token) per_token->assign(size_t(n), 0.0);
  for (int64_t i = 0; i < n; ++i) {
    if (targets[size_t(i)] < 0) {
      std::memset(dlogits_.data() + i * V, 0, size_t(V) * 4);
      continue;
    }
    const double l = softmax_xent(logits_.data() + i * V, V, targets[size_t(i)], scale, dlogits_.data() + i * V);
    total += l;
    if (per_token) (*per_token)[size_t(i)] = l;
  }
  if (!want_grad) return total;
  ensure(dfy_, size_t(n * D));
  linear_backward(fy_.data(), dlogits_.data(), n, D, P_(L_.embed()), V, dfy_.data(), false, G_(L_.embed()));
  ensure(dxr_, size_t(n * D));
  rmsnorm_bwd(tmp_.data(), P_(L_.final_norm()), frstd_.data(), dfy_.data(), n, D, dxr_.data(), false,
              G_(L_.final_norm()));
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < D; ++j) dh[rows[size_t(i)] * D + j] += dxr_[size_t(i * D + j)];
  return total;
}

void Worker::row_fwd(const Episode& ep, const TrainRow& row, Pooled& pooled, const StepOptions& o, double aux_scale,
                     StepStats* st, bool want_aux_grad) {
  const int64_t T = int64_t(row.ids.size()), N = int64_t(ep.docs.size()), G = Hq / Hkv;
  const int64_t tmplT = tmpl_.T;
  rowT_ = T;
  smooth_max_ = o.smooth_max;
  rowpos_.resize(size_t(T));
  for (int64_t t = 0; t < T; ++t) rowpos_[size_t(t)] = int32_t(tmplT + o.top_k + t);
  MSA_CHECK(rowpos_.back() < c_.max_position_embeddings, "training row of {} tokens exceeds max positions", T);
  racts_.resize(size_t(NL));
  kctx_.resize(size_t(NL)); vctx_.resize(size_t(NL)); tk_.resize(size_t(NL)); ctx_chunks_.resize(size_t(NL));
  rr_.resize(size_t(nslots));
  ensure(racts_[0].h_in, size_t(T * D));
  embed_fwd(row.ids.data(), T, racts_[0].h_in.data());
  const float tau = std::clamp(o.tau, 0.001f, 0.5f);
  for (int l = 0; l < NL; ++l) {
    LayerActs& a = racts_[size_t(l)];
    pre_fwd(l, a, T, rowpos_.data());
    const int slot = slot_of_[size_t(l)];
    auto& chunks = ctx_chunks_[size_t(l)];
    chunks.clear();
    if (slot >= 0) {
      RowRouting& R = rr_[size_t(slot)];
      R.rtok.clear();
      for (int64_t t = 0; t < T; ++t)
        if (row.tags[size_t(t)] == 0) R.rtok.push_back(t);
      const int64_t Tr = int64_t(R.rtok.size());
      const int64_t C = pooled.chunk_begin.back();
      R.S.assign(size_t(N), -3.0e38f);
      R.best_c.assign(size_t(N), -1);
      R.best_t.assign(size_t(C), -1);
      R.selected.clear();
      R.Ssm.clear();
      R.has_aux = false;
      if (Tr > 0) {
        ensure(R.xr, size_t(Tr * D)); ensure(R.u, size_t(Tr * qd)); ensure(R.un, size_t(Tr * qd));
        ensure(R.unorm, size_t(Tr * Hq));
        for (int64_t i = 0; i < Tr; ++i)
          std::memcpy(R.xr.data() + i * D, a.xhat.data() + R.rtok[size_t(i)] * D, size_t(D) * 4);
        linear(R.xr.data(), Tr, D, P_(L_.layer(l).rq), qd, R.u.data());
        l2norm_fwd(R.u.data(), Tr * Hq, d, R.un.data(), R.unorm.data());
        const float* kn = pooled.rn[size_t(slot)].data();
        std::vector<float> sc(static_cast<size_t>(C));
        R.sct.resize(size_t(C * Tr));
        for (int64_t c = 0; c < C; ++c) {
          float best = -3.0e38f;
          int64_t bt = 0;
          for (int64_t t = 0; t < Tr; ++t) {
            float acc = 0.f;
            for (int64_t h = 0; h < Hq; ++h) {
              const float* uu = R.un.data() + (t * Hq + h) * d;
              const float* kk = kn + (c * Hkv + h / G) * d;
              float dot = 0.f;
              for (int64_t e = 0; e < d; ++e) dot += uu[e] * kk[e];
              acc += dot;
            }
            acc /= float(Hq);
            R.sct[size_t(c * Tr + t)] = acc;
            if (acc > best) {
              best = acc;
              bt = t;
            }
          }
          sc[size_t(c)] = best;
          R.best_t[size_t(c)] = bt;
        }
        for (int64_t i = 0; i < N; ++i)
          for (int64_t c = pooled.chunk_begin[size_t(i)]; c < pooled.chunk_begin[size_t(i) + 1]; ++c)
            if (sc[size_t(c)] > R.S[size_t(i)]) {
              R.S[size_t(i)] = sc[size_t(c)];
              R.best_c[size_t(i)] = c;
            }
        // Top-k: highest score first, ties to the lower index (kernels::top_k).
        std::vector<int64_t> order(static_cast<size_t>(N));
        for (int64_t i = 0; i < N; ++i) order[size_t(i)] = i;
        std::stable_sort(order.begin(), order.end(),
                         [&](int64_t x, int64_t y) { return R.S[size_t(x)] > R.S[size_t(y)]; });
        const int64_t keff = std::min<int64_t>(o.top_k, N);
        R.selected.assign(order.begin(), order.begin() + keff);
        std::sort(R.selected.begin(), R.selected.end());
        // Diagnostics and aux loss for rows with positives.
        int64_t npos = 0;
        for (int64_t i = 0; i < N; ++i) npos += row.positive[size_t(i)] ? 1 : 0;
        if (npos > 0) {
          int64_t hit1 = 0, hitk = 0;
          for (int64_t j = 0; j < keff; ++j)
            if (row.positive[size_t(order[size_t(j)])]) {
              hitk++;
              if (j == 0) hit1++;
            }
          st->recall1[size_t(slot)] += double(hit1) / double(std::min<int64_t>(npos, 1));
          st->recallk[size_t(slot)] += double(hitk) / double(std::min<int64_t>(npos, keff));
          st->recall_n[size_t(slot)] += 1;
          if (l >= NL / 2) {
            R.dS.assign(size_t(N), 0.f);
            const float* S_aux = R.S.data();
            if (o.smooth_max > 0) {
              // beta * logsumexp(s / beta) over the document's (token, chunk) scores:
              // every pair gets gradient (tiny-model-notes §8.1), not only the argmax.
              const float beta = o.smooth_max;
              R.Ssm.assign(size_t(N), 0.f);
              for (int64_t i = 0; i < N; ++i) {
                const float mx = R.S[size_t(i)];
                double sum = 0;
                for (int64_t c = pooled.chunk_begin[size_t(i)]; c < pooled.chunk_begin[size_t(i) + 1]; ++c)
                  for (int64_t t = 0; t < Tr; ++t) sum += std::exp(double(R.sct[size_t(c * Tr + t)] - mx) / beta);
                R.Ssm[size_t(i)] = mx + beta * float(std::log(sum));
              }
              S_aux = R.Ssm.data();
            }
            st->aux_sum += infonce_decouple(S_aux, row.positive.data(), N, tau, float(aux_scale), R.dS.data());
            st->aux_n += 1;
            R.has_aux = want_aux_grad;
          }
        }
        for (int64_t i : R.selected)
          for (int64_t c = pooled.chunk_begin[size_t(i)]; c < pooled.chunk_begin[size_t(i) + 1]; ++c)
            chunks.push_back(c);
      }
    }
    // Context [template ; chunks ; row].
    const int64_t Tk = tmplT + int64_t(chunks.size()) + T;
    tk_[size_t(l)] = Tk;
    auto& K = kctx_[size_t(l)];
    auto& Vv = vctx_[size_t(l)];
    ensure(K, size_t(Tk * kvd));
    ensure(Vv, size_t(Tk * kvd));
    const LayerActs& ta = tmpl_.acts[size_t(l)];
    std::memcpy(K.data(), ta.k.data(), size_t(tmplT * kvd) * 4);
    std::memcpy(Vv.data(), ta.v.data(), size_t(tmplT * kvd) * 4);
    for (size_t j = 0; j < chunks.size(); ++j) {
      std::memcpy(K.data() + (tmplT + int64_t(j)) * kvd, pooled.pk[size_t(slot)].data() + chunks[j] * kvd,
                  size_t(kvd) * 4);
      std::memcpy(Vv.data() + (tmplT + int64_t(j)) * kvd, pooled.pv[size_t(slot)].data() + chunks[j] * kvd,
                  size_t(kvd) * 4);
    }
    const int64_t rb = tmplT + int64_t(chunks.size());
    std::memcpy(K.data() + rb * kvd, a.k.data(), size_t(T * kvd) * 4);
    std::memcpy(Vv.data() + rb * kvd, a.v.data(), size_t(T * kvd) * 4);
    ensure(a.attn, size_t(T * qd));
    ensure(a.probs, size_t(Hq * T * Tk));
    attention_fwd(a.q.data(), K.data(), Vv.data(), AttnDims{T, Tk, Hq, Hkv, d}, a.attn.data(), a.probs.data());
    float* h_out;
    if (l + 1 < NL) {
      ensure(racts_[size_t(l + 1)].h_in, size_t(T * D));
      h_out = racts_[size_t(l + 1)].h_in.data();
    } else {
      ensure(rh_final_, size_t(T * D));
      h_out = rh_final_.data();
    }
    post_fwd(l, a, T, h_out);
  }
}

void Worker::row_bwd(const TrainRow& row, Pooled& pooled) {
  const int64_t T = rowT_, tmplT = tmpl_.T, G = Hq / Hkv;
  ensure(dh_, size_t(T * D));
  ensure(dh2_, size_t(T * D));
  std::memcpy(dh_.data(), rdh_final_.data(), size_t(T * D) * 4);
  for (int l = NL - 1; l >= 0; --l) {
    LayerActs& a = racts_[size_t(l)];
    post_bwd(l, a, T, dh_.data());
    const int64_t Tk = tk_[size_t(l)];
    zero(dkctx_, size_t(Tk * kvd));
    zero(dvctx_, size_t(Tk * kvd));
    ensure(dq_, size_t(T * qd));
    attention_bwd(a.q.data(), kctx_[size_t(l)].data(), vctx_[size_t(l)].data(), AttnDims{T, Tk, Hq, Hkv, d},
                  a.probs.data(), dattn_.data(), dq_.data(), dkctx_.data(), dvctx_.data());
    auto& gk = dTK_[size_t(l)];
    auto& gv = dTV_[size_t(l)];
    for (int64_t i = 0; i < tmplT * kvd; ++i) {
      gk[size_t(i)] += dkctx_[size_t(i)];
      gv[size_t(i)] += dvctx_[size_t(i)];
    }
    const auto& chunks = ctx_chunks_[size_t(l)];
    const int slot = slot_of_[size_t(l)];
    for (size_t j = 0; j < chunks.size(); ++j) {
      float* pk = pooled.dpk[size_t(slot)].data() + chunks[j] * kvd;
      float* pv = pooled.dpv[size_t(slot)].data() + chunks[j] * kvd;
      const float* sk = dkctx_.data() + (tmplT + int64_t(j)) * kvd;
      const float* sv = dvctx_.data() + (tmplT + int64_t(j)) * kvd;
      for (int64_t e = 0; e < kvd; ++e) {
        pk[e] += sk[e];
        pv[e] += sv[e];
      }
    }
    const int64_t rb = tmplT + int64_t(chunks.size());
    ensure(dk_, size_t(T * kvd));
    ensure(dv_, size_t(T * kvd));
    std::memcpy(dk_.data(), dkctx_.data() + rb * kvd, size_t(T * kvd) * 4);
    std::memcpy(dv_.data(), dvctx_.data() + rb * kvd, size_t(T * kvd) * 4);
    zero(dxhat_, size_t(T * D));
    if (slot >= 0 && rr_[size_t(slot)].has_aux) {
      RowRouting& R = rr_[size_t(slot)];
      const int64_t Tr = int64_t(R.rtok.size());
      zero(dun_, size_t(Tr * qd));
      const float* kn = pooled.rn[size_t(slot)].data();
      float* dkn = pooled.drn[size_t(slot)].data();
      // d score(t, c) = g: mean over heads of cosines.
      auto add_pair = [&](int64_t c, int64_t t, float g) {
        const float gh = g / float(Hq);
        for (int64_t h = 0; h < Hq; ++h) {
          const float* uu = R.un.data() + (t * Hq + h) * d;
          const float* kk = kn + (c * Hkv + h / G) * d;
          float* du = dun_.data() + (t * Hq + h) * d;
          float* dkk = dkn + (c * Hkv + h / G) * d;
          for (int64_t e = 0; e < d; ++e) {
            du[e] += gh * kk[e];
            dkk[e] += gh * uu[e];
          }
        }
      };
      const bool smooth = smooth_max_ > 0 && R.Ssm.size() == R.dS.size();
      for (size_t i = 0; i < R.dS.size(); ++i) {
        const float g = R.dS[i];
        if (g == 0.f || R.best_c[i] < 0) continue;
        if (!smooth) {
          const int64_t c = R.best_c[i];
          add_pair(c, R.best_t[size_t(c)], g);
          continue;
        }
        // Softmax weights of the smooth max.
        for (int64_t c = pooled.chunk_begin[i]; c < pooled.chunk_begin[i + 1]; ++c)
          for (int64_t t = 0; t < Tr; ++t) {
            const float wct = std::exp((R.sct[size_t(c * Tr + t)] - R.Ssm[i]) / smooth_max_);
            if (wct > 1e-6f) add_pair(c, t, g * wct);
          }
      }
      zero(du_, size_t(Tr * qd));
      l2norm_bwd(R.un.data(), R.unorm.data(), dun_.data(), Tr * Hq, d, du_.data());
      ensure(dxr_, size_t(Tr * D));
      linear_backward(R.xr.data(), du_.data(), Tr, D, P_(L_.layer(l).rq), qd, dxr_.data(), false,
                      G_(L_.layer(l).rq));
      for (int64_t i = 0; i < Tr; ++i)
        for (int64_t e = 0; e < D; ++e) dxhat_[size_t(R.rtok[size_t(i)] * D + e)] += dxr_[size_t(i * D + e)];
    }
    pre_bwd(l, a, T, rowpos_.data(), dh2_.data());
    std::swap(dh_, dh2_);
  }
  embed_bwd(row.ids.data(), T, dh_.data());
}

static void build_stream_inputs(const std::vector<std::vector<int32_t>>& seqs, std::vector<int64_t>* begin,
                                std::vector<int32_t>* ids, std::vector<int32_t>* pos) {
  begin->assign(1, 0);
  ids->clear();
  pos->clear();
  for (auto& s : seqs) {
    MSA_CHECK(!s.empty(), "empty training document");
    for (size_t j = 0; j < s.size(); ++j) {
      ids->push_back(s[j]);
      pos->push_back(int32_t(j));
    }
    begin->push_back(begin->back() + int64_t(s.size()));
  }
}

StepStats Worker::run(const std::vector<float>& w, const Batch& b, const std::vector<int>& eps_ids,
                      const StepOptions& o, double lm_scale, double rec_scale, double aux_scale, bool want_grad) {
  W_ = w.data();
  StepStats st;
  st.recall1.assign(size_t(nslots), 0.0);
  st.recallk.assign(size_t(nslots), 0.0);
  st.recall_n.assign(size_t(nslots), 0);
  if (want_grad) zero(grad_, L_.total());
  else grad_.assign(L_.total(), 0.f);  // lm_head_loss may still touch it
  if (eps_ids.empty()) return st;
  // Template prefix (positions 0..2, causal among itself).
  tmpl_.T = int64_t(b.template_ids.size());
  build_stream_inputs({b.template_ids}, &tmpl_.begin, &tmpl_.ids, &tmpl_.pos);
  stream_fwd(tmpl_, nullptr);
  dTK_.resize(size_t(NL));
  dTV_.resize(size_t(NL));
  for (int l = 0; l < NL; ++l) {
    dTK_[size_t(l)].assign(size_t(tmpl_.T * kvd), 0.f);
    dTV_[size_t(l)].assign(size_t(tmpl_.T * kvd), 0.f);
  }
  Pooled pooled;
  for (int e : eps_ids) {
    const Episode& ep = b.episodes[size_t(e)];
    const int64_t N = int64_t(ep.docs.size());
    build_stream_inputs(ep.docs, &docs_.begin, &docs_.ids, &docs_.pos);
    docs_.T = docs_.begin.back();
    st.doc_tokens += docs_.T;
    pooled.chunk_begin.assign(1, 0);
    for (int64_t i = 0; i < N; ++i)
      pooled.chunk_begin.push_back(pooled.chunk_begin.back() + (int64_t(ep.docs[size_t(i)].size()) + P - 1) / P);
    const int64_t C = pooled.chunk_begin.back();
    for (auto* v : {&pooled.pk, &pooled.pv, &pooled.rraw, &pooled.rn, &pooled.rnorm, &pooled.dpk, &pooled.dpv,
                    &pooled.drn})
      v->resize(size_t(nslots));
    for (int s = 0; s < nslots; ++s) {
      pooled.dpk[size_t(s)].assign(size_t(C * kvd), 0.f);
      pooled.dpv[size_t(s)].assign(size_t(C * kvd), 0.f);
      pooled.drn[size_t(s)].assign(size_t(C * kvd), 0.f);
    }
    stream_fwd(docs_, &pooled);
    // Reconstruction loss on each document's suffix.
    std::vector<int64_t> rows;
    std::vector<int32_t> targets;
    for (int64_t i = 0; i < N; ++i) {
      const auto& doc = ep.docs[size_t(i)];
      const int32_t from = ep.rec_from.empty() ? -1 : ep.rec_from[size_t(i)];
      if (from < 0) continue;
      for (int64_t t = from; t + 1 < int64_t(doc.size()); ++t) {
        rows.push_back(docs_.begin[size_t(i)] + t);
        targets.push_back(doc[size_t(t + 1)]);
      }
    }
    std::vector<float> dh_final;
    if (want_grad) dh_final.assign(size_t(docs_.T * D), 0.f);
    st.rec_sum += lm_head_loss(docs_.h_final.data(), rows, targets, float(rec_scale), dh_final.data(), nullptr,
                               want_grad, nullptr);
    st.rec_n += int64_t(rows.size());
    // Prompt rows.
    for (const TrainRow& row : ep.rows) {
      MSA_CHECK(int64_t(row.positive.size()) == N, "row positives ({}) != documents ({})", row.positive.size(), N);
      row_fwd(ep, row, pooled, o, aux_scale, &st, want_grad);
      const int64_t T = int64_t(row.ids.size());
      st.row_tokens += T;
      rows.clear();
      targets.clear();
      for (int64_t t = 0; t < T; ++t)
        if (row.target[size_t(t)] >= 0) {
          rows.push_back(t);
          targets.push_back(row.target[size_t(t)]);
        }
      if (want_grad) zero(rdh_final_, size_t(T * D));
      else ensure(rdh_final_, size_t(T * D));
      std::vector<double> per;
      st.lm_sum += lm_head_loss(rh_final_.data(), rows, targets, float(lm_scale), rdh_final_.data(), &per, want_grad,
                                nullptr);
      st.lm_n += int64_t(rows.size());
      for (size_t i = 0; i < rows.size(); ++i) {
        const uint8_t k = row.kind[size_t(rows[i])];
        if (k == 2) {
          st.lm_ans_sum += per[i];
          st.lm_ans_n++;
        } else {
          st.lm_id_sum += per[i];
          st.lm_id_n++;
        }
      }
      if (want_grad) row_bwd(row, pooled);
    }
    if (want_grad) stream_bwd(docs_, &pooled, nullptr, nullptr, dh_final.data());
  }
  if (want_grad) {
    std::vector<float> zeros(static_cast<size_t>(tmpl_.T * D), 0.f);
    stream_bwd(tmpl_, nullptr, &dTK_, &dTV_, zeros.data());
  }
  return st;
}

RowTrace Worker::trace(const std::vector<float>& w, const Batch& b, int e, int r, const StepOptions& o) {
  W_ = w.data();
  grad_.assign(L_.total(), 0.f);
  StepStats st;
  st.recall1.assign(size_t(nslots), 0.0);
  st.recallk.assign(size_t(nslots), 0.0);
  st.recall_n.assign(size_t(nslots), 0);
  tmpl_.T = int64_t(b.template_ids.size());
  build_stream_inputs({b.template_ids}, &tmpl_.begin, &tmpl_.ids, &tmpl_.pos);
  stream_fwd(tmpl_, nullptr);
  const Episode& ep = b.episodes[size_t(e)];
  const int64_t N = int64_t(ep.docs.size());
  build_stream_inputs(ep.docs, &docs_.begin, &docs_.ids, &docs_.pos);
  docs_.T = docs_.begin.back();
  Pooled pooled;
  pooled.chunk_begin.assign(1, 0);
  for (int64_t i = 0; i < N; ++i)
    pooled.chunk_begin.push_back(pooled.chunk_begin.back() + (int64_t(ep.docs[size_t(i)].size()) + P - 1) / P);
  for (auto* v : {&pooled.pk, &pooled.pv, &pooled.rraw, &pooled.rn, &pooled.rnorm}) v->resize(size_t(nslots));
  stream_fwd(docs_, &pooled);
  const TrainRow& row = ep.rows[size_t(r)];
  row_fwd(ep, row, pooled, o, 0.0, &st, false);
  RowTrace tr;
  const int64_t T = int64_t(row.ids.size());
  std::vector<int64_t> rows(static_cast<size_t>(T));
  std::vector<int32_t> targets(static_cast<size_t>(T), -1);
  for (int64_t t = 0; t < T; ++t) rows[size_t(t)] = t;
  lm_head_loss(rh_final_.data(), rows, targets, 0.f, nullptr, nullptr, false, &tr.logits);
  for (int s = 0; s < nslots; ++s) {
    tr.selected.push_back(rr_[size_t(s)].selected);
    tr.doc_scores.push_back(rr_[size_t(s)].S);
  }
  return tr;
}

StepRunner::StepRunner(const ParamLayout& L, int threads) : L_(L) {
  init_blas_single_thread();
  for (int i = 0; i < std::max(1, threads); ++i) workers_.push_back(std::make_unique<Worker>(L));
}
StepRunner::~StepRunner() = default;

StepStats StepRunner::run(const std::vector<float>& w, const Batch& b, const StepOptions& o,
                          std::vector<float>* grad) {
  MSA_CHECK(w.size() == L_.total(), "parameter buffer has {} floats, layout {}", w.size(), L_.total());
  const int nl = int(L_.config().num_hidden_layers);
  int aux_layers = 0;
  for (int l : L_.config().msa.routing_layers) aux_layers += l >= nl / 2 ? 1 : 0;
  // Normalisers over the whole batch (each loss is a mean over its terms).
  int64_t n_lm = 0, n_rec = 0, n_aux = 0;
  for (auto& ep : b.episodes) {
    for (size_t i = 0; i < ep.docs.size(); ++i)
      if (!ep.rec_from.empty() && ep.rec_from[i] >= 0) n_rec += int64_t(ep.docs[i].size()) - 1 - ep.rec_from[i];
    for (auto& r : ep.rows) {
      for (int32_t t : r.target) n_lm += t >= 0 ? 1 : 0;
      bool pos = false, route = false;
      for (uint8_t p : r.positive) pos = pos || p;
      for (int32_t t : r.tags) route = route || t == 0;
      if (pos && route) n_aux += aux_layers;
    }
  }
  const double lm_scale = n_lm ? o.w_lm / double(n_lm) : 0, rec_scale = n_rec ? o.w_rec / double(n_rec) : 0,
               aux_scale = n_aux ? o.w_aux / double(n_aux) : 0;
  const int nt = int(workers_.size());
  std::vector<std::vector<int>> parts(static_cast<size_t>(nt));
  for (size_t e = 0; e < b.episodes.size(); ++e) parts[e % size_t(nt)].push_back(int(e));
  std::vector<StepStats> stats(static_cast<size_t>(nt));
  std::vector<std::exception_ptr> errs(static_cast<size_t>(nt));
  auto job = [&](int t) {
    try {
      stats[size_t(t)] = workers_[size_t(t)]->run(w, b, parts[size_t(t)], o, lm_scale, rec_scale, aux_scale,
                                                   o.backward);
    } catch (...) {
      errs[size_t(t)] = std::current_exception();
    }
  };
  std::vector<std::thread> th;
  for (int t = 1; t < nt; ++t) th.emplace_back(job, t);
  job(0);
  for (auto& x : th) x.join();
  for (auto& e : errs)
    if (e) std::rethrow_exception(e);
  StepStats total;
  for (auto& s : stats) total.add(s);
  total.loss = o.w_lm * total.lm() + o.w_rec * total.rec() + o.w_aux * total.aux();
  if (o.backward) {
    grad->assign(L_.total(), 0.f);
    for (int t = 0; t < nt; ++t) {
      const float* g = workers_[size_t(t)]->grad_.data();
      float* out = grad->data();
      for (size_t i = 0; i < L_.total(); ++i) out[i] += g[i];
    }
  }
  return total;
}

RowTrace StepRunner::trace_row(const std::vector<float>& w, const Batch& b, int episode, int row,
                               const StepOptions& o) {
  return workers_[0]->trace(w, b, episode, row, o);
}

}  // namespace msa::train
