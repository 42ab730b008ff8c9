#include "kernels/routing_score.h"

#include <algorithm>
#include <cfloat>
#include <numeric>

#include "core/error.h"

namespace msa::kernels {

HeadReduce parse_head_reduce(std::string_view s) {
  if (s == "mean") return HeadReduce::Mean;
  if (s == "max") return HeadReduce::Max;
  throw_error("unknown head_reduce_method '{}' (expected mean|max)", s);
}

QueryReduce parse_query_reduce(std::string_view s) {
  if (s == "max") return QueryReduce::Max;
  if (s == "mean") return QueryReduce::Mean;
  if (s == "last") return QueryReduce::Last;
  throw_error("unknown query_reduce_method '{}' (expected max|mean|last)", s);
}

ChunkReduce parse_chunk_reduce(std::string_view s) {
  if (s == "max") return ChunkReduce::Max;
  if (s == "mean") return ChunkReduce::Mean;
  throw_error("unknown chunk_reduce_method '{}' (expected max|mean)", s);
}

void chunk_scores_ref(const float* u, int64_t Tr, int64_t Hq, const float* keys, int64_t C,
                      int64_t Hkv, int64_t d, HeadReduce hr, QueryReduce qr, float* out) {
  const int64_t G = Hq / Hkv;
  for (int64_t c = 0; c < C; ++c) {
    if (Tr == 0) {
      out[c] = -FLT_MAX;
      continue;
    }
    float acc = qr == QueryReduce::Max ? -FLT_MAX : 0.f;
    for (int64_t t = 0; t < Tr; ++t) {
      float a = hr == HeadReduce::Max ? -FLT_MAX : 0.f;
      for (int64_t h = 0; h < Hq; ++h) {
        const float* uh = u + (t * Hq + h) * d;
        const float* kc = keys + (c * Hkv + h / G) * d;
        float e = 0.f;
        for (int64_t i = 0; i < d; ++i) e += uh[i] * kc[i];
        a = hr == HeadReduce::Max ? std::max(a, e) : a + e;
      }
      if (hr == HeadReduce::Mean) a /= float(Hq);
      if (qr == QueryReduce::Max) acc = std::max(acc, a);
      else if (qr == QueryReduce::Mean) acc += a;
      else acc = a;  // Last: the final routing token wins
    }
    if (qr == QueryReduce::Mean) acc /= float(Tr);
    out[c] = acc;
  }
}

void doc_scores_from_chunks(const float* chunk_scores, const int64_t* chunk_begin, int64_t ndocs,
                            ChunkReduce cr, float* out) {
  for (int64_t i = 0; i < ndocs; ++i) {
    const int64_t b = chunk_begin[i], e = chunk_begin[i + 1];
    if (e <= b) {
      out[i] = -FLT_MAX;
      continue;
    }
    float acc = cr == ChunkReduce::Max ? -FLT_MAX : 0.f;
    for (int64_t c = b; c < e; ++c)
      acc = cr == ChunkReduce::Max ? std::max(acc, chunk_scores[c]) : acc + chunk_scores[c];
    if (cr == ChunkReduce::Mean) acc /= float(e - b);
    out[i] = acc;
  }
}

std::vector<int64_t> top_k(const float* scores, int64_t n, int64_t k) {
  std::vector<int64_t> idx;
  idx.reserve(size_t(n));
  for (int64_t i = 0; i < n; ++i)
    if (scores[i] > kInvalidScore) idx.push_back(i);
  const size_t kk = size_t(std::min<int64_t>(k, int64_t(idx.size())));
  auto better = [&](int64_t a, int64_t b) {
    return scores[a] > scores[b] || (scores[a] == scores[b] && a < b);
  };
  std::partial_sort(idx.begin(), idx.begin() + ptrdiff_t(kk), idx.end(), better);
  idx.resize(kk);
  return idx;
}

}  // namespace msa::kernels
