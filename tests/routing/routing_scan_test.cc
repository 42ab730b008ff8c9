// Kernel-level tests of the fused routing scan: packing, and chunk scores ==
// scalar reference (kernels::chunk_scores_ref) over the same rounded
// keys/queries, for every format, reduction and tile shape, SIMD and scalar.
#include <gtest/gtest.h>

#include <cmath>

#include "core/cpu_features.h"
#include "../kernels/isa_test_util.h"
#include "core/half.h"
#include "routing_test_util.h"

namespace msa {
namespace {

using namespace routing_test;

struct Bank {
  int64_t C, Hkv, d;
  ScanType t;
  std::vector<float> keys;
  AlignedBuffer<uint8_t> packed;
  AlignedBuffer<float> scales;
  PackedKeysView view() const {
    return {t, packed.data(), scales.data(), C, Hkv, d};
  }
};

Bank make_bank(ScanType t, int64_t C, int64_t Hkv, int64_t d, std::vector<float> keys) {
  Bank b{C, Hkv, d, t, std::move(keys), {}, {}};
  const int64_t nb = std::max<int64_t>(scan_num_blocks(C), 1);
  b.packed.resize(size_t(nb) * scan_block_bytes(t, Hkv * d));
  b.packed.zero();
  b.scales.resize(size_t(nb * kScanLanes));
  b.scales.zero();
  // Pack in two calls to exercise appends at a non-block boundary.
  const int64_t half = C / 3;
  pack_chunk_keys(t, Hkv * d, b.keys.data(), half, 0, b.packed.data(), b.scales.data());
  pack_chunk_keys(t, Hkv * d, b.keys.data() + half * Hkv * d, C - half, half, b.packed.data(), b.scales.data());
  return b;
}

TEST(RoutingScan, PackRoundTrip) {
  std::mt19937 rng(1);
  for (ScanType t : {ScanType::F32, ScanType::BF16, ScanType::Int8}) {
    const int64_t C = 37, D = 2 * 7;  // D not a multiple of the int8 step
    auto keys = real_values(rng, size_t(C * D));
    Bank b = make_bank(t, C, 2, 7, keys);
    std::vector<float> out(static_cast<size_t>(D));
    for (int64_t c = 0; c < C; ++c) {
      unpack_chunk_key(t, D, b.packed.data(), b.scales.data(), c, out.data());
      float m = 0.f;
      for (int64_t e = 0; e < D; ++e) m = std::max(m, std::fabs(keys[size_t(c * D + e)]));
      for (int64_t e = 0; e < D; ++e) {
        const float x = keys[size_t(c * D + e)];
        if (t == ScanType::F32) {
          EXPECT_EQ(out[size_t(e)], x);
        }
        if (t == ScanType::BF16) {
          EXPECT_EQ(out[size_t(e)], bf16_to_f32(f32_to_bf16(x)));
        }
        if (t == ScanType::Int8) {
          EXPECT_NEAR(out[size_t(e)], x, m / 127.f * 0.5001f);
        }
      }
    }
  }
}

struct Case {
  ScanType t;
  int64_t Hkv, d, Hq, Tr, C;
  HeadReduce hr;
  QueryReduce qr;
};

void check_case(const Case& k, bool integer_data, std::mt19937& rng) {
  const int64_t D = k.Hkv * k.d;
  auto keys = integer_data ? int_values(rng, size_t(k.C * D)) : real_values(rng, size_t(k.C * D));
  Bank b = make_bank(k.t, k.C, k.Hkv, k.d, keys);
  // Two questions in one batch (different token counts) to cover batching.
  auto u1 = integer_data ? int_values(rng, size_t(k.Tr * k.Hq * k.d)) : real_values(rng, size_t(k.Tr * k.Hq * k.d));
  const int64_t Tr2 = std::max<int64_t>(1, k.Tr / 2 + 1);
  auto u2 = integer_data ? int_values(rng, size_t(Tr2 * k.Hq * k.d)) : real_values(rng, size_t(Tr2 * k.Hq * k.d));
  std::vector<ScanQuestion> qs = {{u1.data(), k.Tr, k.Hq, k.hr, k.qr}, {u2.data(), Tr2, k.Hq, k.hr, k.qr}};
  ScanQueries prepared;
  prepared.prepare(k.t, k.Hkv, k.d, qs);
  std::vector<float> cs(size_t(k.C) * qs.size(), 12345.f);
  routing_scan(b.view(), prepared, nullptr, cs.data());
  for (size_t qi = 0; qi < qs.size(); ++qi) {
    auto ref = oracle_chunk_scores(b.view(), qs[qi]);
    for (int64_t c = 0; c < k.C; ++c) {
      const float got = cs[qi * size_t(k.C) + size_t(c)], want = ref[size_t(c)];
      SCOPED_TRACE(testing::Message() << scan_type_name(k.t) << " Hkv=" << k.Hkv << " d=" << k.d << " Hq=" << k.Hq
                                      << " Tr=" << qs[qi].Tr << " hr=" << int(k.hr) << " qr=" << int(k.qr)
                                      << " c=" << c << " path=" << routing_scan_path(k.t));
      if (k.t != ScanType::Int8 && integer_data) {
        ASSERT_EQ(got, want);
      } else {
        // Summation order / int8 rounding of the scale product only.
        ASSERT_NEAR(got, want, 1e-4f * (1.f + std::fabs(want)) * std::sqrt(float(D)));
      }
    }
  }
}

// Every tier (scalar, avx2, avx512) forced in turn; a tier this CPU lacks is skipped with the reason.
class RoutingScanPaths : public msa::test::IsaTest {};

TEST_P(RoutingScanPaths, MatchesReferenceAllReductions) {
  std::mt19937 rng(7);
  for (ScanType t : {ScanType::F32, ScanType::BF16, ScanType::Int8})
    for (HeadReduce hr : {HeadReduce::Mean, HeadReduce::Max})
      for (QueryReduce qr : {QueryReduce::Max, QueryReduce::Mean, QueryReduce::Last})
        for (int64_t Tr : {1, 3, 13, 30}) {  // 13, 30: several column tiles, remainder tiles
          const int64_t d = hr == HeadReduce::Max ? 8 : 5;
          for (int64_t C : {1, 17, 70}) {  // partial blocks, NB=4/2/1 groups
            check_case({t, 2, d, 4, Tr, C, hr, qr}, /*integer_data=*/true, rng);
            check_case({t, 1, d, 2, Tr, C, hr, qr}, /*integer_data=*/false, rng);
          }
          // Large D: the scan splits D into L1-sized slices (partial sums carried over).
          check_case({t, 4, 80, 8, Tr, 40, hr, qr}, /*integer_data=*/true, rng);
        }
}

TEST_P(RoutingScanPaths, PathIsTheForcedTier) {
  for (ScanType t : {ScanType::F32, ScanType::BF16, ScanType::Int8}) {
    const std::string p = routing_scan_path(t);
    // AVX-512 without BF16/VNNI runs the AVX2 tile for that key type.
    const bool avx512 = GetParam() == msa::Isa::Avx512 &&
                        (t == ScanType::F32 || (t == ScanType::BF16 ? cpu_features().avx512_bf16
                                                                    : cpu_features().avx512_vnni));
    const char* want = GetParam() == msa::Isa::Scalar ? "scalar" : avx512 ? "avx512" : "avx2";
    EXPECT_EQ(p.rfind(want, 0), 0u) << p;
  }
}

TEST_P(RoutingScanPaths, EmptyQueryGivesLowestScore) {
  std::mt19937 rng(3);
  Bank b = make_bank(ScanType::BF16, 20, 2, 4, int_values(rng, 20 * 8));
  ScanQuestion q{nullptr, 0, 4, HeadReduce::Mean, QueryReduce::Max};
  ScanQueries prepared;
  prepared.prepare(ScanType::BF16, 2, 4, std::span<const ScanQuestion>(&q, 1));
  std::vector<float> cs(20, 0.f);
  routing_scan(b.view(), prepared, nullptr, cs.data());
  for (float x : cs) EXPECT_EQ(x, -FLT_MAX);
}

TEST_P(RoutingScanPaths, BlockMaskSkipsBlocks) {
  std::mt19937 rng(4);
  Bank b = make_bank(ScanType::BF16, 128, 1, 8, int_values(rng, 128 * 8));
  auto u = int_values(rng, 2 * 2 * 8);
  ScanQuestion q{u.data(), 2, 2, HeadReduce::Mean, QueryReduce::Max};
  ScanQueries prepared;
  prepared.prepare(ScanType::BF16, 1, 8, std::span<const ScanQuestion>(&q, 1));
  ASSERT_EQ(scan_group_blocks(ScanType::BF16, prepared.ncols), 4);
  std::vector<float> cs(128, 777.f);
  const uint8_t mask[8] = {0, 1, 0, 0, 0, 0, 0, 0};  // second group of 4 blocks: all masked out
  routing_scan(b.view(), prepared, mask, cs.data());
  auto ref = oracle_chunk_scores(b.view(), q);
  for (int c = 16; c < 32; ++c) EXPECT_EQ(cs[size_t(c)], ref[size_t(c)]) << c;
  for (int c = 64; c < 128; ++c) EXPECT_EQ(cs[size_t(c)], 777.f) << c;
}

INSTANTIATE_TEST_SUITE_P(EveryIsa, RoutingScanPaths, testing::Values(msa::Isa::Scalar, msa::Isa::Avx2, msa::Isa::Avx512),
                         msa::test::isa_param_name);

TEST(RoutingScan, DocTopKTiesAndFilters) {
  // chunk scores: docs {0:[1,5]}, {1:[5]}, {2:[]}, {3:[2,2]}, {4:[5,0]}
  std::vector<float> cs = {1, 5, 5, 2, 2, 5, 0};
  std::vector<int64_t> cb = {0, 2, 3, 3, 5, 7};
  auto h = doc_top_k(cs.data(), cb.data(), nullptr, nullptr, 5, ChunkReduce::Max, 3);
  ASSERT_EQ(h.size(), 3u);
  EXPECT_EQ(h[0].index, 0);
  EXPECT_EQ(h[1].index, 1);
  EXPECT_EQ(h[2].index, 4);
  std::vector<int64_t> ids = {50, 40, 30, 20, 10};
  h = doc_top_k(cs.data(), cb.data(), ids.data(), nullptr, 5, ChunkReduce::Max, 2);
  EXPECT_EQ(h[0].id, 10);
  EXPECT_EQ(h[1].id, 40);
  std::vector<uint8_t> allowed = {1, 0, 1, 1, 0};
  h = doc_top_k(cs.data(), cb.data(), nullptr, allowed.data(), 5, ChunkReduce::Mean, 5);
  ASSERT_EQ(h.size(), 2u);  // empty doc 2 has no score
  EXPECT_EQ(h[0].index, 0);
  EXPECT_EQ(h[0].score, 3.f);
  EXPECT_EQ(h[1].index, 3);
}

}  // namespace
}  // namespace msa
