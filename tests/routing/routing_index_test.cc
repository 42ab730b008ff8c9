// Property tests of memory::RoutingIndex against brute force: random banks
// (random document lengths incl. empty ones, tombstones, namespaces, every
// reduction combination, many exact ties), SIMD and scalar paths.
#include "memory/routing_index.h"

#include <gtest/gtest.h>

#include <numeric>
#include <set>

#include "core/cpu_features.h"
#include "../kernels/isa_test_util.h"
#include "core/error.h"
#include "routing_test_util.h"

namespace msa {
namespace {

using namespace routing_test;
using memory::DocScore;
using memory::KeyStorage;
using memory::NamespaceFilter;
using memory::RoutingIndex;
using memory::RoutingQuery;

struct RandomBank {
  std::unique_ptr<RoutingIndex> index;
  std::vector<int64_t> ids;  // in add order
  std::vector<uint32_t> ns;
  std::vector<std::vector<std::vector<float>>> keys;  // [doc][slot][C*D]
};

RandomBank make_bank(std::mt19937& rng, KeyStorage st, int64_t slots, int64_t Hkv, int64_t d, int64_t ndocs,
                     bool integer_data, bool shuffled_ids, int64_t rescore_factor = 4) {
  RandomBank b;
  b.index = std::make_unique<RoutingIndex>(memory::RoutingIndexOptions{slots, Hkv, d, st, rescore_factor});
  std::uniform_int_distribution<int> len(0, 6), longdoc(0, 9), nsd(0, 2);
  std::vector<int64_t> ids(static_cast<size_t>(ndocs));
  std::iota(ids.begin(), ids.end(), 100);
  if (shuffled_ids) std::shuffle(ids.begin(), ids.end(), rng);
  for (int64_t i = 0; i < ndocs; ++i) {
    int64_t C = longdoc(rng) == 0 ? 20 + len(rng) * 3 : len(rng);  // some docs span blocks
    std::vector<std::vector<float>> k;
    std::vector<const float*> p;
    for (int64_t s = 0; s < slots; ++s) {
      k.push_back(integer_data ? int_values(rng, size_t(C * Hkv * d)) : real_values(rng, size_t(C * Hkv * d)));
      p.push_back(k.back().data());
    }
    const uint32_t n = uint32_t(nsd(rng));
    b.index->add(ids[size_t(i)], n, C, p);
    b.ids.push_back(ids[size_t(i)]);
    b.ns.push_back(n);
    b.keys.push_back(std::move(k));
  }
  return b;
}

// Brute force over the index's own stored keys (the scan's rounding).
std::vector<DocScore> brute_force(const RandomBank& b, int slot, const RoutingQuery& q, const NamespaceFilter& f,
                                  bool bf16_copy = false) {
  const RoutingIndex& idx = *b.index;
  const auto view = idx.keys_view(slot, bf16_copy);
  ScanQuestion sq{q.u, q.Tr, q.Hq, q.head_reduce, q.query_reduce};
  auto cs = oracle_chunk_scores(view, sq);
  const auto& ids = idx.doc_ids();
  std::vector<uint8_t> allowed(ids.size());
  for (size_t i = 0; i < ids.size(); ++i) allowed[i] = idx.contains(ids[i]) && f.admits(b.ns[i]);
  auto hits = oracle_top_k(cs, idx.chunk_begin(), ids, allowed, q.chunk_reduce, q.k);
  std::vector<DocScore> out;
  for (auto& h : hits) out.push_back({ids[size_t(h.index)], h.score});
  return out;
}

void expect_same(const std::vector<DocScore>& got, const std::vector<DocScore>& want, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].doc, want[i].doc) << what << " rank " << i;
    EXPECT_EQ(got[i].score, want[i].score) << what << " rank " << i;
  }
}

// Real-valued data: same documents and scores up to summation-order rounding
// (a different document only where the two scores are that close).
void expect_close(const std::vector<DocScore>& got, const std::vector<DocScore>& want, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_NEAR(got[i].score, want[i].score, 1e-5f * (1 + std::fabs(want[i].score))) << what << " rank " << i;
    if (got[i].doc != want[i].doc) {
      EXPECT_NEAR(got[i].score, want[i].score, 1e-5f) << what << " rank " << i;
    }
  }
}

// Every tier (scalar, avx2, avx512) forced in turn; a tier this CPU lacks is skipped with the reason.
class RoutingIndexPaths : public msa::test::IsaTest {};

// Exact equality with brute force: integer-valued keys/queries make every
// score exact (so ties are real ties and must break to the lower id).
TEST_P(RoutingIndexPaths, EqualsBruteForceRandomBanks) {
  std::mt19937 rng(11);
  int trial = 0;
  for (KeyStorage st : {KeyStorage::F32, KeyStorage::BF16})
    for (HeadReduce hr : {HeadReduce::Mean, HeadReduce::Max})
      for (QueryReduce qr : {QueryReduce::Max, QueryReduce::Mean, QueryReduce::Last})
        for (ChunkReduce cr : {ChunkReduce::Max, ChunkReduce::Mean})
          for (int rep = 0; rep < 2; ++rep, ++trial) {
            const int64_t Hkv = 1 + trial % 2, d = hr == HeadReduce::Max ? 8 : 3 + trial % 4, Hq = Hkv * 2;
            const bool shuffled = rep == 1;
            auto b = make_bank(rng, st, 2, Hkv, d, 1 + int64_t(rng() % 60), true, shuffled);
            // Tombstones.
            for (size_t i = 0; i < b.ids.size(); ++i)
              if (rng() % 5 == 0) b.index->remove(b.ids[i]);
            const int slot = int(rng() % 2);
            const int64_t Tr = int64_t(rng() % 20);  // includes Tr = 0
            auto u = int_values(rng, size_t(Tr * Hq * d), -2, 2);
            RoutingQuery q{u.data(), Tr, Hq, d, hr, qr, cr, int64_t(1 + rng() % 12)};
            NamespaceFilter f = rng() % 2 ? NamespaceFilter{} : NamespaceFilter::only({uint32_t(rng() % 3), 7});
            const std::string what = std::string(memory::key_storage_name(st)) + " trial " + std::to_string(trial);
            expect_same(b.index->search(slot, q, f), brute_force(b, slot, q, f), what);
            if (Tr == 0) {
              EXPECT_TRUE(b.index->search(slot, q, f).empty());
            }
          }
}

// Real-valued data: scores agree to rounding, and the selected set agrees
// except where two candidates are within rounding of each other.
TEST_P(RoutingIndexPaths, RealDataMatchesToRounding) {
  std::mt19937 rng(12);
  for (KeyStorage st : {KeyStorage::F32, KeyStorage::BF16}) {
    auto b = make_bank(rng, st, 1, 2, 16, 200, false, false);
    auto u = real_values(rng, size_t(9 * 4 * 16));
    RoutingQuery q{u.data(), 9, 4, 16, HeadReduce::Mean, QueryReduce::Max, ChunkReduce::Max, 16};
    expect_close(b.index->search(0, q), brute_force(b, 0, q, {}), memory::key_storage_name(st));
  }
}

TEST_P(RoutingIndexPaths, BatchEqualsSingleSearches) {
  std::mt19937 rng(13);
  for (KeyStorage st : {KeyStorage::BF16, KeyStorage::Int8}) {
    auto b = make_bank(rng, st, 1, 2, 8, 80, true, true);
    b.index->remove(b.ids[3]);
    std::vector<std::vector<float>> us;
    std::vector<RoutingQuery> qs;
    std::vector<NamespaceFilter> fs;
    for (int i = 0; i < 7; ++i) {
      const int64_t Tr = int64_t(rng() % 9);
      us.push_back(int_values(rng, size_t(Tr * 4 * 8)));
      qs.push_back({us.back().data(), Tr, 4, 8, i % 3 == 0 ? HeadReduce::Max : HeadReduce::Mean,
                    QueryReduce(i % 3), ChunkReduce(i % 2), 5});
      fs.push_back(i % 2 ? NamespaceFilter{} : NamespaceFilter::only({uint32_t(i % 3)}));
    }
    auto batch = b.index->search_batch(0, qs, fs);
    for (size_t i = 0; i < qs.size(); ++i)
      expect_same(batch[i], b.index->search(0, qs[i], fs[i]), "batch question " + std::to_string(i));
  }
}

// Int8 + bf16 re-scoring: with every document re-scored the result is the
// exact bf16 top-k; with the default 4·k candidates recall stays high.
TEST_P(RoutingIndexPaths, Int8RescoreRecall) {
  std::mt19937 rng(14);
  auto b = make_bank(rng, KeyStorage::Int8, 1, 2, 16, 300, false, false, /*rescore_factor=*/4);
  memory::SearchOptions all;
  all.rescore_factor = 1000;
  double hit = 0, total = 0, raw_hit = 0;
  for (int rep = 0; rep < 20; ++rep) {
    const int64_t Tr = 1 + int64_t(rng() % 16);
    auto u = real_values(rng, size_t(Tr * 4 * 16));
    RoutingQuery q{u.data(), Tr, 4, 16, HeadReduce::Mean, QueryReduce::Max, ChunkReduce::Max, 16};
    memory::SearchOptions ex;
    ex.exact_bf16 = true;
    auto exact = b.index->search(0, q, {}, ex);
    expect_close(exact, brute_force(b, 0, q, {}, /*bf16_copy=*/true), "int8 index exact_bf16 scan");
    expect_same(b.index->search(0, q, {}, all), exact, "int8 full rescore");
    auto got = b.index->search(0, q);
    memory::SearchOptions raw;
    raw.int8_rescore = false;
    auto rawgot = b.index->search(0, q, {}, raw);
    std::set<int64_t> want;
    for (auto& x : exact) want.insert(x.doc);
    for (auto& x : got) hit += want.count(x.doc);
    for (auto& x : rawgot) raw_hit += want.count(x.doc);
    total += double(exact.size());
    // Re-scored scores are exact bf16 scores.
    for (auto& x : got)
      for (auto& y : exact)
        if (x.doc == y.doc) {
          EXPECT_EQ(x.score, y.score);
        }
  }
  std::printf("int8 recall@16 vs exact bf16: raw %.4f, with 4k bf16 re-scoring %.4f\n", raw_hit / total,
              hit / total);
  EXPECT_GE(hit / total, 0.98);
}

INSTANTIATE_TEST_SUITE_P(EveryIsa, RoutingIndexPaths, testing::Values(msa::Isa::Scalar, msa::Isa::Avx2, msa::Isa::Avx512),
                         msa::test::isa_param_name);

TEST(RoutingIndex, CompactKeepsResults) {
  std::mt19937 rng(15);
  for (KeyStorage st : {KeyStorage::BF16, KeyStorage::Int8}) {
    auto b = make_bank(rng, st, 2, 2, 8, 120, true, true);
    for (size_t i = 0; i < b.ids.size(); i += 3) EXPECT_TRUE(b.index->remove(b.ids[i]));
    EXPECT_FALSE(b.index->remove(b.ids[0]));
    EXPECT_FALSE(b.index->remove(-5));
    auto u = int_values(rng, size_t(5 * 4 * 8));
    RoutingQuery q{u.data(), 5, 4, 8, HeadReduce::Mean, QueryReduce::Max, ChunkReduce::Max, 10};
    auto before = b.index->search(1, q);
    const int64_t live = b.index->num_docs();
    b.index->compact();
    EXPECT_EQ(b.index->num_docs(), live);
    EXPECT_EQ(b.index->num_stored_docs(), live);
    expect_same(b.index->search(1, q), before, "after compact");
    for (auto& x : before) EXPECT_TRUE(b.index->contains(x.doc));
  }
}

TEST(RoutingIndex, EncodedDocumentAndErrors) {
  RoutingIndex idx({2, 1, 4, KeyStorage::BF16, 4});
  memory::EncodedDocument doc;
  doc.num_chunks = 2;
  doc.routing_key = {std::vector<float>{1, 0, 0, 0, 0, 1, 0, 0}, std::vector<float>{0, 0, 1, 0, 0, 0, 0, 1}};
  idx.add(5, 0, doc);
  EXPECT_THROW(idx.add(5, 0, doc), Error);
  memory::EncodedDocument bad = doc;
  bad.routing_key.pop_back();
  EXPECT_THROW(idx.add(6, 0, bad), Error);
  std::vector<float> u = {0, 2, 0, 0, 0, 2, 0, 0};  // Tr=1, Hq=2, d=4
  RoutingQuery q{u.data(), 1, 2, 4, HeadReduce::Mean, QueryReduce::Max, ChunkReduce::Max, 16};
  auto r = idx.route(0, q);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].doc, 5);
  EXPECT_EQ(r[0].score, 2.f);  // mean over 2 heads of <u_h, chunk 1> = (2+2)/2
  EXPECT_THROW(idx.route(2, q), Error);
  q.d = 8;
  EXPECT_THROW(idx.route(0, q), Error);
  EXPECT_TRUE(idx.remove(5));
  q.d = 4;
  EXPECT_TRUE(idx.route(0, q).empty());
}

}  // namespace
}  // namespace msa
