// Shared helpers of the routing tests: random banks and the brute-force oracle
// (kernels::chunk_scores_ref + doc_scores_from_chunks + top_k over exactly the
// keys/queries the scan uses, i.e. after bf16 rounding / int8 quantisation).
#pragma once

#include <algorithm>
#include <cfloat>
#include <random>
#include <vector>

#include "kernels/routing_scan.h"
#include "kernels/routing_score.h"

namespace msa::routing_test {

using namespace msa::kernels;

// Small integers: every dot product, head sum (÷ power-of-two Hq) is exact in
// f32 whatever the summation order, so the fast paths must match bit for bit.
inline std::vector<float> int_values(std::mt19937& rng, size_t n, int lo = -3, int hi = 3) {
  std::uniform_int_distribution<int> u(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = float(u(rng));
  return v;
}
inline std::vector<float> real_values(std::mt19937& rng, size_t n) {
  std::normal_distribution<float> u(0.f, 1.f);
  std::vector<float> v(n);
  for (auto& x : v) x = u(rng);
  return v;
}

// Chunk scores of all chunks, computed by the scalar reference over the
// effective query and the unpacked (stored) keys.
inline std::vector<float> oracle_chunk_scores(const PackedKeysView& keys, const ScanQuestion& q) {
  const int64_t C = keys.num_chunks, D = keys.Hkv * keys.d;
  std::vector<float> kf(static_cast<size_t>(C * D));
  for (int64_t c = 0; c < C; ++c) unpack_chunk_key(keys.type, D, keys.data, keys.scales, c, kf.data() + c * D);
  std::vector<float> out(static_cast<size_t>(C));
  if (C == 0) return out;
  std::vector<float> eq = effective_query(keys.type, q, keys.Hkv, keys.d);
  if (q.head_reduce == HeadReduce::Mean)
    chunk_scores_ref(eq.data(), q.Tr, 1, kf.data(), C, 1, D, HeadReduce::Mean, q.query_reduce, out.data());
  else
    chunk_scores_ref(eq.data(), q.Tr, q.Hq, kf.data(), C, keys.Hkv, keys.d, HeadReduce::Max, q.query_reduce,
                     out.data());
  return out;
}

struct OracleHit {
  int64_t index;
  float score;
};

// Top-k over allowed documents; ties → lower external id.
inline std::vector<OracleHit> oracle_top_k(const std::vector<float>& cs, const std::vector<int64_t>& chunk_begin,
                                           const std::vector<int64_t>& ids, const std::vector<uint8_t>& allowed,
                                           ChunkReduce cr, int64_t k) {
  const int64_t n = int64_t(ids.size());
  std::vector<float> ds(static_cast<size_t>(n));
  doc_scores_from_chunks(cs.data(), chunk_begin.data(), n, cr, ds.data());
  for (int64_t i = 0; i < n; ++i)
    if (!allowed.empty() && !allowed[size_t(i)]) ds[size_t(i)] = -FLT_MAX;
  std::vector<int64_t> idx;
  bool sorted_ids = std::is_sorted(ids.begin(), ids.end());
  if (sorted_ids) {
    idx = top_k(ds.data(), n, k);  // the library's tie rule (lower index = lower id)
  } else {
    for (int64_t i = 0; i < n; ++i)
      if (ds[size_t(i)] > kInvalidScore) idx.push_back(i);
    std::sort(idx.begin(), idx.end(), [&](int64_t a, int64_t b) {
      return ds[size_t(a)] > ds[size_t(b)] || (ds[size_t(a)] == ds[size_t(b)] && ids[size_t(a)] < ids[size_t(b)]);
    });
    if (int64_t(idx.size()) > k) idx.resize(size_t(k));
  }
  std::vector<OracleHit> out;
  for (int64_t i : idx) out.push_back({i, ds[size_t(i)]});
  return out;
}

}  // namespace msa::routing_test
