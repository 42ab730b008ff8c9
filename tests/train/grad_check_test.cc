// Finite-difference checks of every hand-written backward pass of the trainer
// (train/ops.h) and of the whole MSA training loss (train/step.h) on a tiny model.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <random>

#include "kernels/pooling.h"
#include "train/ops.h"
#include "train/params.h"
#include "train/step.h"

using namespace msa;
using namespace msa::train;

namespace {

std::vector<float> randv(size_t n, std::mt19937& g, float s = 1.0f) {
  std::normal_distribution<float> nd(0.f, s);
  std::vector<float> v(n);
  for (auto& x : v) x = nd(g);
  return v;
}

// Checks analytic gradient `ana` of f at x with central differences (in double
// via fp32 evaluations); relative error against max(|num|, |ana|, floor).
void check_grad(const std::function<double(const std::vector<float>&)>& f, std::vector<float> x,
                const std::vector<float>& ana, double h, double tol, const char* what) {
  ASSERT_EQ(x.size(), ana.size());
  double worst = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    const float x0 = x[i];
    x[i] = float(x0 + h);
    const double fp = f(x);
    x[i] = float(x0 - h);
    const double fm = f(x);
    x[i] = x0;
    const double num = (fp - fm) / (2 * h);
    const double err = std::abs(num - ana[i]) / std::max({std::abs(num), std::abs(double(ana[i])), 1e-2});
    worst = std::max(worst, err);
    EXPECT_LT(err, tol) << what << " index " << i << " numeric " << num << " analytic " << ana[i];
  }
  (void)worst;
}

double dotv(const std::vector<float>& a, const std::vector<float>& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += double(a[i]) * b[i];
  return s;
}

}  // namespace

TEST(TrainOps, Linear) {
  init_blas_single_thread();
  std::mt19937 g(1);
  const int64_t T = 3, K = 5, N = 4;
  auto x = randv(T * K, g), W = randv(N * K, g), r = randv(T * N, g);
  std::vector<float> dx(T * K), dW(N * K, 0.f);
  linear_backward(x.data(), r.data(), T, K, W.data(), N, dx.data(), false, dW.data());
  auto fx = [&](const std::vector<float>& xx) {
    std::vector<float> y(T * N);
    linear(xx.data(), T, K, W.data(), N, y.data());
    return dotv(y, r);
  };
  auto fw = [&](const std::vector<float>& ww) {
    std::vector<float> y(T * N);
    linear(x.data(), T, K, ww.data(), N, y.data());
    return dotv(y, r);
  };
  check_grad(fx, x, dx, 1e-2, 1e-2, "linear dx");
  check_grad(fw, W, dW, 1e-2, 1e-2, "linear dW");
}

TEST(TrainOps, RmsNorm) {
  std::mt19937 g(2);
  const int64_t R = 3, n = 8;
  auto x = randv(R * n, g), w = randv(n, g), r = randv(R * n, g);
  std::vector<float> y(R * n), rs(R), dx(R * n), dw(n, 0.f);
  rmsnorm_fwd(x.data(), w.data(), R, n, 1e-6f, y.data(), rs.data());
  rmsnorm_bwd(x.data(), w.data(), rs.data(), r.data(), R, n, dx.data(), false, dw.data());
  auto fx = [&](const std::vector<float>& xx) {
    std::vector<float> yy(R * n), s(R);
    rmsnorm_fwd(xx.data(), w.data(), R, n, 1e-6f, yy.data(), s.data());
    return dotv(yy, r);
  };
  auto fw = [&](const std::vector<float>& ww) {
    std::vector<float> yy(R * n), s(R);
    rmsnorm_fwd(x.data(), ww.data(), R, n, 1e-6f, yy.data(), s.data());
    return dotv(yy, r);
  };
  check_grad(fx, x, dx, 1e-3, 3e-2, "rmsnorm dx");
  check_grad(fw, w, dw, 1e-3, 3e-2, "rmsnorm dw");
}

TEST(TrainOps, RopeSwigluPoolL2) {
  std::mt19937 g(3);
  RopeTable rt;
  rt.build(8, 64, 10000.f);
  const int64_t T = 3, H = 2;
  std::vector<int32_t> pos = {0, 7, 33};
  auto x = randv(T * H * 8, g), r = randv(T * H * 8, g);
  std::vector<float> dx = r;
  rope_bwd(dx.data(), T, H, pos.data(), rt);
  check_grad([&](const std::vector<float>& xx) {
    auto y = xx;
    rope_fwd(y.data(), T, H, pos.data(), rt);
    return dotv(y, r);
  }, x, dx, 1e-2, 1e-2, "rope");

  auto ga = randv(20, g), up = randv(20, g), r2 = randv(20, g);
  std::vector<float> dg(20), du(20);
  swiglu_bwd(ga.data(), up.data(), r2.data(), 20, dg.data(), du.data());
  check_grad([&](const std::vector<float>& gg) {
    std::vector<float> o(20);
    swiglu_fwd(gg.data(), up.data(), 20, o.data());
    return dotv(o, r2);
  }, ga, dg, 1e-3, 1e-2, "swiglu dgate");
  check_grad([&](const std::vector<float>& uu) {
    std::vector<float> o(20);
    swiglu_fwd(ga.data(), uu.data(), 20, o.data());
    return dotv(o, r2);
  }, up, du, 1e-3, 1e-2, "swiglu dup");

  // Pooling with a partial last chunk (n = 7, P = 3: chunks of 3, 3, 1).
  auto px = randv(7 * 4, g), pr = randv(3 * 4, g);
  std::vector<float> pdx(7 * 4, 0.f);
  kernels::mean_pool_chunks_backward(pr.data(), 7, 4, 3, pdx.data());
  check_grad([&](const std::vector<float>& xx) {
    std::vector<float> o(3 * 4);
    kernels::mean_pool_chunks(xx.data(), 7, 4, 3, o.data());
    return dotv(o, pr);
  }, px, pdx, 1e-2, 1e-2, "pool");

  auto lx = randv(3 * 8, g), lr = randv(3 * 8, g);
  std::vector<float> ly(24), ln(3), ldx(24, 0.f);
  l2norm_fwd(lx.data(), 3, 8, ly.data(), ln.data());
  l2norm_bwd(ly.data(), ln.data(), lr.data(), 3, 8, ldx.data());
  check_grad([&](const std::vector<float>& xx) {
    std::vector<float> y(24), n(3);
    l2norm_fwd(xx.data(), 3, 8, y.data(), n.data());
    return dotv(y, lr);
  }, lx, ldx, 1e-3, 1e-2, "l2norm");
}

TEST(TrainOps, AttentionWithPrefix) {
  std::mt19937 g(4);
  const int64_t Tq = 4, pre = 3, Tk = Tq + pre, Hq = 4, Hkv = 2, d = 8;
  auto q = randv(Tq * Hq * d, g), k = randv(Tk * Hkv * d, g), v = randv(Tk * Hkv * d, g),
       r = randv(Tq * Hq * d, g);
  const AttnDims s{Tq, Tk, Hq, Hkv, d};
  std::vector<float> out(Tq * Hq * d), probs(Hq * Tq * Tk), dq(q.size()), dk(k.size(), 0.f), dv(v.size(), 0.f);
  attention_fwd(q.data(), k.data(), v.data(), s, out.data(), probs.data());
  attention_bwd(q.data(), k.data(), v.data(), s, probs.data(), r.data(), dq.data(), dk.data(), dv.data());
  auto f = [&](const std::vector<float>& qq, const std::vector<float>& kk, const std::vector<float>& vv) {
    std::vector<float> o(Tq * Hq * d), p(Hq * Tq * Tk);
    attention_fwd(qq.data(), kk.data(), vv.data(), s, o.data(), p.data());
    return dotv(o, r);
  };
  check_grad([&](const std::vector<float>& x) { return f(x, k, v); }, q, dq, 1e-2, 2e-2, "attn dq");
  check_grad([&](const std::vector<float>& x) { return f(q, x, v); }, k, dk, 1e-2, 2e-2, "attn dk");
  check_grad([&](const std::vector<float>& x) { return f(q, k, x); }, v, dv, 1e-2, 2e-2, "attn dv");
  // Causality: query 0 sees exactly the prefix and itself.
  for (int64_t h = 0; h < Hq; ++h)
    for (int64_t j = pre + 1; j < Tk; ++j) EXPECT_EQ(probs[size_t((h * Tq + 0) * Tk + j)], 0.f);
}

TEST(TrainOps, CrossEntropyAndInfoNce) {
  std::mt19937 g(5);
  auto lg = randv(11, g);
  std::vector<float> dl(11);
  softmax_xent(lg.data(), 11, 4, 1.0f, dl.data());
  check_grad([&](const std::vector<float>& x) {
    std::vector<float> t(11);
    return softmax_xent(x.data(), 11, 4, 1.0f, t.data());
  }, lg, dl, 1e-3, 1e-2, "xent");
  auto s = randv(6, g, 0.3f);
  std::vector<uint8_t> pos = {0, 1, 0, 0, 1, 0};
  std::vector<float> ds(6);
  const double loss = infonce_decouple(s.data(), pos.data(), 6, 0.1f, 1.0f, ds.data());
  check_grad([&](const std::vector<float>& x) {
    std::vector<float> t(6);
    return infonce_decouple(x.data(), pos.data(), 6, 0.1f, 1.0f, t.data());
  }, s, ds, 1e-3, 1e-2, "infonce");
  // Definition: mean over positives of -log(e_i / (e_i + Σ_neg e_j)).
  double ref = 0, neg = 0;
  for (int j = 0; j < 6; ++j)
    if (!pos[j]) neg += std::exp(s[j] / 0.1);
  for (int i : {1, 4}) ref += -std::log(std::exp(s[i] / 0.1) / (std::exp(s[i] / 0.1) + neg));
  EXPECT_NEAR(loss, ref / 2, 1e-5);
}

// A tiny MSA model with routing layers 2,3 of 4; one memory of 5 documents.
static model::ModelConfig tiny_config() {
  model::ModelConfig c;
  c.model_type = "msa";
  c.vocab_size = 40; c.hidden_size = 16; c.intermediate_size = 24; c.num_hidden_layers = 4;
  c.num_attention_heads = 4; c.num_key_value_heads = 2; c.head_dim = 8; c.rope_theta = 10000.f;
  c.max_position_embeddings = 256; c.tie_word_embeddings = true;
  c.msa.present = true; c.msa.decouple_router = true; c.msa.router_layer_idx = "2,3";
  c.msa.routing_layers = {2, 3}; c.msa.pooling_kernel_size = 3; c.msa.top_k_docs = 2; c.msa.doc_top_k = 2;
  c.msa.has_doc_top_k = true; c.msa.head_reduce_method = "mean"; c.msa.head_reduce = kernels::HeadReduce::Mean;
  c.msa.aux_loss_method = "INFONCE_DECOUPLE";
  return c;
}

static Batch tiny_batch(std::mt19937& g) {
  std::uniform_int_distribution<int> tok(3, 39), len(4, 9);
  Batch b;
  b.template_ids = {1, 2, 3};
  for (int e = 0; e < 2; ++e) {
    Episode ep;
    for (int i = 0; i < 5; ++i) {
      std::vector<int32_t> d(size_t(len(g)));
      for (auto& t : d) t = tok(g);
      ep.rec_from.push_back(int32_t(d.size()) - 3);
      ep.docs.push_back(d);
    }
    for (int r = 0; r < 2; ++r) {
      TrainRow row;
      const int T = 10;
      for (int t = 0; t < T; ++t) {
        row.ids.push_back(tok(g));
        row.tags.push_back(t < 5 ? 0 : -1);
        row.target.push_back(t >= 6 && t + 1 < T ? tok(g) : -1);
        row.kind.push_back(t >= 8 ? 2 : 1);
      }
      row.positive.assign(5, 0);
      row.positive[size_t((e + r) % 5)] = 1;
      ep.rows.push_back(row);
    }
    b.episodes.push_back(ep);
  }
  return b;
}

// smooth_max > 0: the aux loss uses the smooth maximum over (token, chunk) scores.
static void check_whole_model_gradient(float smooth_max) {
  const model::ModelConfig c = tiny_config();
  ParamLayout L(c);
  std::vector<float> w;
  init_params(L, 7, 0.3f, &w);
  std::mt19937 g(11);
  // Perturb norm weights too so their gradients are generic.
  std::normal_distribution<float> nd(0.f, 0.1f);
  for (auto& e : L.entries())
    if (!e.matrix)
      for (size_t i = 0; i < e.size; ++i) w[e.offset + i] += nd(g);
  Batch b = tiny_batch(g);
  StepOptions o;
  o.top_k = 2;
  o.w_lm = 1.0f; o.w_rec = 0.7f; o.w_aux = 0.5f;
  o.smooth_max = smooth_max;
  o.threads = 2;
  StepRunner run(L, 2);
  std::vector<float> grad;
  StepStats st = run.run(w, b, o, &grad);
  EXPECT_GT(st.aux_n, 0);
  EXPECT_GT(st.rec_n, 0);
  EXPECT_GT(st.lm_n, 0);
  // Same result with one thread (fixed-order reduction, same math).
  StepRunner run1(L, 1);
  std::vector<float> grad1;
  StepStats st1 = run1.run(w, b, o, &grad1);
  EXPECT_NEAR(st1.loss, st.loss, 1e-6 * std::abs(st.loss));
  StepOptions of = o;
  of.backward = false;
  auto loss_at = [&](const std::vector<float>& ww) { return run1.run(ww, b, of, nullptr).loss; };
  // Check, for every tensor, its 3 largest-gradient entries and 2 random ones.
  int checked = 0, bad = 0;
  for (auto& e : L.entries()) {
    std::vector<size_t> idx(e.size);
    for (size_t i = 0; i < e.size; ++i) idx[i] = e.offset + i;
    std::partial_sort(idx.begin(), idx.begin() + std::min<size_t>(3, e.size), idx.end(),
                      [&](size_t a, size_t bb) { return std::abs(grad[a]) > std::abs(grad[bb]); });
    idx.resize(std::min<size_t>(3, e.size));
    idx.push_back(e.offset + g() % e.size);
    idx.push_back(e.offset + g() % e.size);
    for (size_t i : idx) {
      const float w0 = w[i];
      const double h = 2e-3;
      auto ww = w;
      ww[i] = float(w0 + h);
      const double fp = loss_at(ww);
      ww[i] = float(w0 - h);
      const double fm = loss_at(ww);
      const double num = (fp - fm) / (2 * h);
      const double err = std::abs(num - grad[i]) / std::max({std::abs(num), std::abs(double(grad[i])), 3e-3});
      ++checked;
      // The max over routing tokens / chunks is piecewise smooth: if the
      // central difference straddles a kink, the one-sided derivatives at a
      // smaller step disagree and the analytic one must match one of them.
      bool kink_ok = false;
      if (err > 5e-2) {
        const double hs = 5e-4;
        auto w2 = w;
        const double f0 = loss_at(w2);
        w2[i] = float(w0 + hs);
        const double fwd = (loss_at(w2) - f0) / hs;
        w2[i] = float(w0 - hs);
        const double bwd = (f0 - loss_at(w2)) / hs;
        auto rel = [&](double x) { return std::abs(x - grad[i]) / std::max({std::abs(x), std::abs(double(grad[i])), 3e-3}); };
        kink_ok = rel(fwd) < 5e-2 || rel(bwd) < 5e-2;
      }
      if (err > 5e-2 && !kink_ok) {
        ++bad;
        ADD_FAILURE() << e.name << " [" << i - e.offset << "] numeric " << num << " analytic " << grad[i];
      }
    }
  }
  EXPECT_EQ(bad, 0) << "of " << checked;
}

TEST(TrainStep, WholeModelGradientMatchesFiniteDifferences) { check_whole_model_gradient(0.0f); }

TEST(TrainStep, WholeModelGradientWithSmoothMaxAuxLoss) { check_whole_model_gradient(0.1f); }

// The smooth maximum gives every (token, chunk) pair of a document gradient;
// the hard maximum only its argmax: the router-query gradient differs.
TEST(TrainStep, SmoothMaxChangesOnlyTheAuxGradient) {
  const model::ModelConfig c = tiny_config();
  ParamLayout L(c);
  std::vector<float> w;
  init_params(L, 7, 0.3f, &w);
  std::mt19937 g(5);
  Batch b = tiny_batch(g);
  StepOptions o;
  o.top_k = 2;
  o.threads = 1;
  StepRunner run(L, 1);
  std::vector<float> g_hard, g_smooth;
  const StepStats hard = run.run(w, b, o, &g_hard);
  o.smooth_max = 0.1f;
  const StepStats smooth = run.run(w, b, o, &g_smooth);
  EXPECT_DOUBLE_EQ(hard.lm(), smooth.lm());  // selection is the hard max in both
  EXPECT_NE(hard.aux(), smooth.aux());
  double diff = 0;
  for (size_t i = 0; i < g_hard.size(); ++i) diff += std::abs(double(g_hard[i]) - g_smooth[i]);
  EXPECT_GT(diff, 0.0);
}
