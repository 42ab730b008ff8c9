// matmul paths (portable, AVX2, AVX-512 — each forced in turn; a tier this
// CPU lacks is skipped with the reason) against the f64 scalar reference, for
// all weight types, awkward shapes and T = 1..300.
#include "kernels/matmul.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "core/cpu_features.h"
#include "core/half.h"
#include "core/threads.h"
#include "isa_test_util.h"

using namespace msa::kernels;

namespace {

struct Weights {
  std::vector<float> f32;
  std::vector<uint16_t> u16;
  WeightView view;
};

Weights make_weights(WType type, int64_t N, int64_t K, std::mt19937& rng) {
  std::normal_distribution<float> d(0.f, 1.f);
  Weights w;
  const size_t n = size_t(N * K);
  if (type == WType::F32) {
    w.f32.resize(n);
    for (auto& v : w.f32) v = d(rng);
    w.view.data = w.f32.data();
  } else {
    w.u16.resize(n);
    for (auto& v : w.u16) v = type == WType::BF16 ? msa::f32_to_bf16(d(rng)) : msa::f32_to_f16(d(rng));
    w.view.data = w.u16.data();
  }
  w.view.type = type;
  w.view.rows = N;
  w.view.cols = K;
  return w;
}

float weight_value(const Weights& w, size_t i) {
  switch (w.view.type) {
    case WType::F32: return w.f32[i];
    case WType::BF16: return msa::bf16_to_f32(w.u16[i]);
    case WType::F16: return msa::f16_to_f32(w.u16[i]);
  }
  return 0.f;
}

// Checks matmul() against matmul_ref(): |y − ref| ≤ rel · Σ_k |x_k w_k| + tiny,
// i.e. the error is judged relative to the magnitude of the products summed
// (both sides see the same rounded inputs; only accumulation order differs).
void check_shape(WType type, int64_t T, int64_t N, int64_t K, uint32_t seed, double rel) {
  std::mt19937 rng(seed);
  Weights w = make_weights(type, N, K, rng);
  std::normal_distribution<float> d(0.f, 1.f);
  std::vector<float> x(size_t(T * K));
  for (auto& v : x) v = d(rng);
  std::vector<float> y(size_t(T * N), -7.f), ref(size_t(T * N));
  matmul(x.data(), T, w.view, y.data());
  matmul_ref(x.data(), T, w.view, ref.data());
  int bad = 0;
  for (int64_t t = 0; t < T && bad < 5; ++t)
    for (int64_t n = 0; n < N && bad < 5; ++n) {
      double mag = 0;
      for (int64_t k = 0; k < K; ++k)
        mag += std::fabs(double(x[size_t(t * K + k)]) * weight_value(w, size_t(n * K + k)));
      const double err = std::fabs(double(y[size_t(t * N + n)]) - double(ref[size_t(t * N + n)]));
      if (!(err <= rel * mag + 1e-30)) {
        ++bad;
        ADD_FAILURE() << matmul_path(type, T) << " T=" << T << " N=" << N << " K=" << K << " at (" << t
                      << "," << n << "): got " << y[size_t(t * N + n)] << " want " << ref[size_t(t * N + n)]
                      << " (err " << err << ", allowed " << rel * mag << ")";
      }
    }
}

struct Shape {
  int64_t T, N, K;
};

// T spans the GEMV (1..6), tile-tail (7..13) and blocked-GEMM regimes; N and
// K include non-multiples of the tile (4) and the vector step (16 / 32), and
// K > 2560 forces several K blocks (the y += path).
const std::vector<Shape> kShapes = {
    {1, 1, 1},     {1, 7, 5},      {1, 33, 31},   {1, 129, 1025}, {2, 5, 64},    {3, 17, 33},
    {5, 9, 100},   {6, 64, 4097},  {7, 6, 3},     {8, 13, 47},    {9, 4, 16},    {13, 21, 257},
    {17, 19, 300}, {31, 130, 96},  {64, 67, 1000}, {100, 3, 77},  {128, 64, 2600}, {150, 37, 5000},
    {300, 70, 129}, {257, 260, 33}, {12, 1, 2049}, {40, 2, 17},
};

double tolerance(WType type) {
  // bf16: both sides use bf16-rounded x and exact products, f32 accumulation.
  // f32/f16: f32 products and accumulation vs f64.
  return type == WType::BF16 ? 1e-5 : 2e-6;
}

class MatmulTest : public ::testing::TestWithParam<std::tuple<WType, msa::Isa>> {
 protected:
  void SetUp() override {
    if (!msa::set_isa(isa())) GTEST_SKIP() << msa::test::lacks(isa());
  }
  void TearDown() override { msa::set_simd_enabled(true); }
  WType type() const { return std::get<0>(GetParam()); }
  msa::Isa isa() const { return std::get<1>(GetParam()); }
};

TEST_P(MatmulTest, MatchesReferenceOnAwkwardShapes) {
  uint32_t seed = 1;
  for (const Shape& s : kShapes) check_shape(type(), s.T, s.N, s.K, seed++, tolerance(type()));
}

TEST_P(MatmulTest, SingleThreadMatchesReference) {
  msa::set_num_threads(1);
  check_shape(type(), 37, 101, 1500, 99, tolerance(type()));
  check_shape(type(), 1, 1001, 700, 98, tolerance(type()));
  msa::set_num_threads(0);
}

TEST_P(MatmulTest, PortablePathMatchesReference) {
  msa::set_simd_enabled(false);
  EXPECT_STREQ(matmul_path(type(), 1), "portable");
  check_shape(type(), 1, 33, 65, 7, 1e-5);
  check_shape(type(), 11, 19, 300, 8, 1e-5);
  msa::set_isa(isa());
}

TEST_P(MatmulTest, ReportsPath) {
  const std::string p = matmul_path(type(), 512);
  if (isa() == msa::Isa::Scalar) {
    EXPECT_EQ(p, "portable");
    return;
  }
  // bf16 weights on an AVX-512 CPU without AVX512_BF16 take the AVX2 kernel.
  const bool avx512 = isa() == msa::Isa::Avx512 && (type() != WType::BF16 || msa::cpu_features().avx512_bf16);
  EXPECT_EQ(p.rfind(avx512 ? "avx512-" : "avx2-", 0), 0u) << p;
  EXPECT_NE(p.find("gemm"), std::string::npos) << p;
  EXPECT_NE(std::string(matmul_path(type(), 1)).find("gemv"), std::string::npos);
}

INSTANTIATE_TEST_SUITE_P(AllWeightTypesAndIsas, MatmulTest,
                         ::testing::Combine(::testing::Values(WType::F32, WType::BF16, WType::F16),
                                            ::testing::Values(msa::Isa::Scalar, msa::Isa::Avx2,
                                                              msa::Isa::Avx512)),
                         [](const auto& info) {
                           std::string t = "x";
                           switch (std::get<0>(info.param)) {
                             case WType::F32: t = "f32"; break;
                             case WType::BF16: t = "bf16"; break;
                             case WType::F16: t = "f16"; break;
                           }
                           return t + "_" + msa::isa_name(std::get<1>(info.param));
                         });

// Every T from 1 to 300 on one odd shape (exercises each MR remainder and the
// GEMV/GEMM switch), bf16 only to keep the test fast.
class MatmulIsa : public msa::test::IsaTest {};
INSTANTIATE_TEST_SUITE_P(Simd, MatmulIsa, MSA_SIMD_ISAS, msa::test::isa_param_name);

TEST_P(MatmulIsa, EveryTUpTo300Bf16) {
  std::mt19937 rng(5);
  Weights w = make_weights(WType::BF16, 23, 70, rng);
  std::normal_distribution<float> d(0.f, 1.f);
  std::vector<float> x(300 * 70);
  for (auto& v : x) v = d(rng);
  std::vector<float> y(300 * 23), ref(300 * 23);
  for (int64_t T = 1; T <= 300; ++T) {
    matmul(x.data(), T, w.view, y.data());
    matmul_ref(x.data(), T, w.view, ref.data());
    double worst = 0;
    for (size_t i = 0; i < size_t(T * 23); ++i) worst = std::max(worst, double(std::fabs(y[i] - ref[i])));
    ASSERT_LT(worst, 1e-3) << "T=" << T;
  }
}

// The bf16 path rounds x exactly like msa::f32_to_bf16 (ties to even, NaN kept).
TEST_P(MatmulIsa, Bf16RoundingOfActivationsIsExact) {
  // Weight = identity-like selector: y[n] = bf16(x[n]) exactly.
  const int64_t K = 40;
  std::vector<uint16_t> eye(size_t(K * K), 0);
  for (int64_t i = 0; i < K; ++i) eye[size_t(i * K + i)] = msa::f32_to_bf16(1.f);
  WeightView w{eye.data(), WType::BF16, K, K};
  std::vector<float> x(static_cast<size_t>(K));
  // Exact ties (low half 0x8000, even and odd upper half), just below/above
  // ties, and random normal values whose low half is a tie or random.
  const uint32_t patterns[] = {0x3f808000u, 0x3f818000u, 0x3f807fffu, 0x3f80ffffu,
                               0x3f808001u, 0x7f7f7fffu, 0xbf808001u, 0xc1238000u};
  std::mt19937 rng(3);
  for (int64_t i = 0; i < K; ++i) {
    uint32_t u = patterns[i % 8];
    if (i >= 8) {
      const uint32_t hi = (rng() & 0x80ffu) | ((1u + rng() % 253u) << 7);  // sign, exp 1..253, 7 mantissa bits
      u = hi << 16 | ((i & 1) ? 0x8000u : (rng() & 0xffffu));
    }
    std::memcpy(&x[size_t(i)], &u, 4);
  }
  std::vector<float> y(static_cast<size_t>(K));
  matmul(x.data(), 1, w, y.data());
  for (int64_t i = 0; i < K; ++i) {
    const float want = msa::bf16_to_f32(msa::f32_to_bf16(x[size_t(i)]));
    // vdpbf16ps treats subnormal inputs as zero; inf/NaN do not survive 1·x + 0·(…).
    if (std::fpclassify(want) != FP_NORMAL) continue;
    EXPECT_EQ(y[size_t(i)], want) << "i=" << i;
  }
}

}  // namespace
