// AVX-512 attention / rmsnorm / SwiGLU against their scalar reference loops
// (msa::set_simd_enabled(false) routes the same public call to the scalar code).
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "core/cpu_features.h"
#include "kernels/attention.h"
#include "kernels/rmsnorm.h"
#include "kernels/swiglu.h"

using namespace msa::kernels;

namespace {

std::vector<float> randv(size_t n, uint32_t seed, float scale = 1.f) {
  std::mt19937 r(seed);
  std::normal_distribution<float> d(0.f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = d(r);
  return v;
}

// Runs f with SIMD paths enabled and disabled; returns the largest
// |simd − scalar| / (1 + |scalar|).
template <class F>
double simd_vs_scalar(size_t n_out, F f) {
  std::vector<float> a(n_out, -1.f), b(n_out, -2.f);
  f(a.data());
  msa::set_simd_enabled(false);
  f(b.data());
  msa::set_simd_enabled(true);
  double worst = 0;
  for (size_t i = 0; i < n_out; ++i) worst = std::max(worst, std::fabs(double(a[i]) - b[i]) / (1 + std::fabs(b[i])));
  return worst;
}

struct AttnCase {
  int64_t Tq, Tk, Hq, Hkv, d;
  bool causal;
};

TEST(SimdKernels, AttentionMatchesScalar) {
  if (!msa::cpu_features().avx512) GTEST_SKIP() << "no AVX-512";
  const AttnCase cases[] = {
      {1, 1, 2, 1, 64, true},      {1, 37, 16, 8, 128, true},  {1, 1000, 32, 8, 128, true},
      {3, 130, 4, 4, 64, true},    {7, 70, 8, 2, 256, true},   {5, 5, 2, 2, 128, true},
      {16, 300, 16, 8, 128, false}, {2, 9, 6, 3, 128, false},  {33, 200, 4, 1, 64, true},
  };
  uint32_t seed = 1;
  for (const AttnCase& c : cases) {
    AttentionShape s{c.Tq, c.Tk, c.Hq, c.Hkv, c.d};
    auto q = randv(size_t(c.Tq * c.Hq * c.d), seed++, 2.f);
    auto k = randv(size_t(c.Tk * c.Hkv * c.d), seed++);
    auto v = randv(size_t(c.Tk * c.Hkv * c.d), seed++);
    const double err = simd_vs_scalar(size_t(c.Tq * c.Hq * c.d), [&](float* out) {
      attention(q.data(), k.data(), v.data(), s, out, c.causal);
    });
    EXPECT_LT(err, 2e-5) << "Tq=" << c.Tq << " Tk=" << c.Tk << " Hq=" << c.Hq << " Hkv=" << c.Hkv << " d=" << c.d;
  }
}

TEST(SimdKernels, AttentionOddHeadDimFallsBack) {
  if (!msa::cpu_features().avx512) GTEST_SKIP() << "no AVX-512: there is no SIMD path to fall back from";
  AttentionShape s{2, 5, 2, 1, 24};
  auto q = randv(2 * 2 * 24, 1), k = randv(5 * 24, 2), v = randv(5 * 24, 3);
  EXPECT_EQ(simd_vs_scalar(2 * 2 * 24, [&](float* out) { attention(q.data(), k.data(), v.data(), s, out); }), 0.0);
}

TEST(SimdKernels, RmsnormMatchesScalar) {
  // Without the ISA both runs are the scalar loop: comparing them proves nothing.
  if (!msa::cpu_features().avx512) GTEST_SKIP() << "no AVX-512: the SIMD path is not built into this run";
  for (int64_t n : {1, 15, 16, 17, 100, 1024, 2560}) {
    const int64_t rows = 3;
    auto x = randv(size_t(rows * n), uint32_t(n), 3.f), w = randv(size_t(n), uint32_t(n + 1));
    const double err = simd_vs_scalar(size_t(rows * n), [&](float* out) {
      rmsnorm(x.data(), w.data(), rows, n, 1e-6f, out);
    });
    EXPECT_LT(err, 1e-5) << "n=" << n;
  }
  // In place (out aliases x).
  auto x = randv(300, 9), w = randv(100, 10);
  auto y = x;
  rmsnorm(x.data(), w.data(), 3, 100, 1e-6f, x.data());
  msa::set_simd_enabled(false);
  rmsnorm(y.data(), w.data(), 3, 100, 1e-6f, y.data());
  msa::set_simd_enabled(true);
  for (size_t i = 0; i < 300; ++i) EXPECT_NEAR(x[i], y[i], 1e-5 * (1 + std::fabs(y[i])));
}

TEST(SimdKernels, SwigluMatchesScalar) {
  if (!msa::cpu_features().avx512) GTEST_SKIP() << "no AVX-512: the SIMD path is not built into this run";
  for (int64_t n : {1, 7, 16, 33, 3072}) {
    auto g = randv(size_t(n), uint32_t(n), 4.f), u = randv(size_t(n), uint32_t(n + 7));
    const double err = simd_vs_scalar(size_t(n), [&](float* out) { swiglu(g.data(), u.data(), n, out); });
    EXPECT_LT(err, 1e-6) << "n=" << n;
  }
}

// Against the formula, whichever path this machine runs.
TEST(SimdKernels, SwigluSaturatesLikeTheFormula) {
  // Saturation: very negative gates give (−)0, very positive give g·up.
  std::vector<float> g = {-200.f, -90.f, -88.f, 0.f, 30.f, 90.f, 200.f}, u(7, 2.f), out(7);
  swiglu(g.data(), u.data(), 7, out.data());
  for (size_t i = 0; i < 7; ++i) {
    const double want = double(g[i]) / (1 + std::exp(-double(g[i]))) * 2.0;
    EXPECT_NEAR(out[i], want, 1e-6 * (1 + std::fabs(want))) << "g=" << g[i];
  }
}

}  // namespace
