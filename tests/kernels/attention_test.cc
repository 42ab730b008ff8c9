// Kernel oracles: attention vs an independent f64 softmax; RoPE properties;
// routing reductions on toy cases from spec §11.
#include "kernels/attention.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>
#include <array>

#include "kernels/rope.h"
#include "kernels/routing_score.h"

using namespace msa::kernels;

namespace {
std::vector<float> randv(size_t n, uint64_t seed) {
  std::mt19937_64 r(seed);
  std::normal_distribution<float> d(0, 1);
  std::vector<float> v(n);
  for (auto& x : v) x = d(r);
  return v;
}
}  // namespace

TEST(Attention, MatchesF64OracleWithPrefixAndGqa) {
  for (auto [Tq, Tk, Hq, Hkv, d] : std::vector<std::array<int64_t, 5>>{{5, 12, 4, 2, 8}, {1, 30, 8, 2, 16}, {7, 7, 2, 2, 4}}) {
    auto q = randv(size_t(Tq * Hq * d), 1), k = randv(size_t(Tk * Hkv * d), 2), v = randv(size_t(Tk * Hkv * d), 3);
    std::vector<float> out(size_t(Tq * Hq * d));
    attention(q.data(), k.data(), v.data(), {Tq, Tk, Hq, Hkv, d}, out.data());
    for (int64_t i = 0; i < Tq; ++i)
      for (int64_t h = 0; h < Hq; ++h) {
        const int64_t g = h / (Hq / Hkv), n = Tk - Tq + i + 1;  // bottom-right causal
        std::vector<double> s(static_cast<size_t>(n));
        double mx = -1e300, sum = 0;
        for (int64_t j = 0; j < n; ++j) {
          double dot = 0;
          for (int64_t e = 0; e < d; ++e) dot += double(q[size_t((i * Hq + h) * d + e)]) * k[size_t((j * Hkv + g) * d + e)];
          s[size_t(j)] = dot / std::sqrt(double(d));
          mx = std::max(mx, s[size_t(j)]);
        }
        for (auto& x : s) sum += (x = std::exp(x - mx));
        for (int64_t e = 0; e < d; ++e) {
          double o = 0;
          for (int64_t j = 0; j < n; ++j) o += s[size_t(j)] / sum * v[size_t((j * Hkv + g) * d + e)];
          EXPECT_NEAR(out[size_t((i * Hq + h) * d + e)], o, 1e-5);
        }
      }
  }
}

TEST(Rope, IdentityAtZeroNormPreservingAndRelative) {
  const int64_t d = 16;
  auto x = randv(d, 4), y = randv(d, 5);
  auto x0 = x;
  int32_t p0 = 0;
  rope_apply(x0.data(), 1, 1, d, &p0, 10000.f);
  for (int64_t i = 0; i < d; ++i) EXPECT_FLOAT_EQ(x0[size_t(i)], x[size_t(i)]);
  // <R(a)x, R(b)y> depends only on a − b.
  auto dot_at = [&](int32_t a, int32_t b) {
    auto xa = x, yb = y;
    rope_apply(xa.data(), 1, 1, d, &a, 10000.f);
    rope_apply(yb.data(), 1, 1, d, &b, 10000.f);
    double s = 0, nx = 0, n0 = 0;
    for (int64_t i = 0; i < d; ++i) s += xa[size_t(i)] * yb[size_t(i)], nx += xa[size_t(i)] * xa[size_t(i)], n0 += x[size_t(i)] * x[size_t(i)];
    EXPECT_NEAR(nx, n0, 1e-4);
    return s;
  };
  EXPECT_NEAR(dot_at(7, 3), dot_at(24, 20), 1e-4);
  // Backward is the inverse rotation.
  auto z = x;
  int32_t p = 11;
  rope_apply(z.data(), 1, 1, d, &p, 10000.f);
  rope_backward(z.data(), 1, 1, d, &p, 10000.f);
  for (int64_t i = 0; i < d; ++i) EXPECT_NEAR(z[size_t(i)], x[size_t(i)], 1e-5);
}

TEST(RoutingScore, HeadMaxAndHeadMeanCanSelectDifferentDocs) {
  // 2 query heads sharing 1 KV head, d = 2, one routing token, one chunk per doc.
  // head0 query (1,0), head1 query (0,1).
  const float u[] = {1, 0, 0, 1};
  // doc0 key (0.9, 0.9): mean 0.9, max 0.9; doc1 key (1.5, -0.5): mean 0.5, max 1.5.
  const float keys[] = {0.9f, 0.9f, 1.5f, -0.5f};
  const int64_t begin[] = {0, 1, 2};
  float cs[2], ds[2];
  chunk_scores_ref(u, 1, 2, keys, 2, 1, 2, HeadReduce::Mean, QueryReduce::Max, cs);
  doc_scores_from_chunks(cs, begin, 2, ChunkReduce::Max, ds);
  EXPECT_EQ(top_k(ds, 2, 1)[0], 0);
  chunk_scores_ref(u, 1, 2, keys, 2, 1, 2, HeadReduce::Max, QueryReduce::Max, cs);
  doc_scores_from_chunks(cs, begin, 2, ChunkReduce::Max, ds);
  EXPECT_EQ(top_k(ds, 2, 1)[0], 1);
}

TEST(RoutingScore, ReductionOrderAndTopK) {
  // 2 tokens, 1 head, d = 1: token-max after head reduce; chunk→doc max/mean.
  const float u[] = {1, -2};
  const float keys[] = {1, -1, 3};  // chunks 0,1 → doc0; chunk 2 → doc1
  const int64_t begin[] = {0, 2, 3};
  float cs[3], ds[2];
  chunk_scores_ref(u, 2, 1, keys, 3, 1, 1, HeadReduce::Mean, QueryReduce::Max, cs);
  EXPECT_FLOAT_EQ(cs[0], 1);
  EXPECT_FLOAT_EQ(cs[1], 2);
  EXPECT_FLOAT_EQ(cs[2], 3);
  chunk_scores_ref(u, 2, 1, keys, 3, 1, 1, HeadReduce::Mean, QueryReduce::Mean, cs);
  EXPECT_FLOAT_EQ(cs[0], -0.5f);
  chunk_scores_ref(u, 2, 1, keys, 3, 1, 1, HeadReduce::Mean, QueryReduce::Last, cs);
  EXPECT_FLOAT_EQ(cs[2], -6);
  chunk_scores_ref(u, 2, 1, keys, 3, 1, 1, HeadReduce::Mean, QueryReduce::Max, cs);
  doc_scores_from_chunks(cs, begin, 2, ChunkReduce::Mean, ds);
  EXPECT_FLOAT_EQ(ds[0], 1.5f);
  // Ties → lower index; invalid scores never selected; k > n clamps.
  const float s[] = {0.5f, 0.7f, 0.7f, -2e9f};
  auto t = top_k(s, 4, 10);
  ASSERT_EQ(t.size(), 3u);
  EXPECT_EQ(t[0], 1);
  EXPECT_EQ(t[1], 2);
  EXPECT_EQ(t[2], 0);
  // No routing token: nothing selectable.
  chunk_scores_ref(u, 0, 1, keys, 3, 1, 1, HeadReduce::Mean, QueryReduce::Max, cs);
  doc_scores_from_chunks(cs, begin, 2, ChunkReduce::Max, ds);
  EXPECT_TRUE(top_k(ds, 2, 2).empty());
}
