// MSA routing-score reductions (spec §4.4), reference (scalar, f32) versions.
//
//   e[t,h,c] = ⟨u[t,h], κ[c, h/G]⟩          (u already normalised or scaled by the caller)
//   a[t,c]   = mean_h e  | max_h e          (head reduce)
//   s[c]     = max_t a   | mean_t a | a[last t]   (query reduce, over routing tokens)
//   S[i]     = max_{c∈doc i} s[c] | mean    (chunk → document)
// The fused, fast scan lives in kernels/routing_scan.h; this file is its oracle.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

namespace msa::kernels {

enum class HeadReduce : uint8_t { Mean, Max };
enum class QueryReduce : uint8_t { Max, Mean, Last };
enum class ChunkReduce : uint8_t { Max, Mean };

HeadReduce parse_head_reduce(std::string_view s);    // throws msa::Error
QueryReduce parse_query_reduce(std::string_view s);  // throws msa::Error
ChunkReduce parse_chunk_reduce(std::string_view s);  // throws msa::Error

// Score below which a document counts as absent (spec §4.5: valid ⇔ score > −1e9).
constexpr float kInvalidScore = -1e9f;

// u: [Tr, Hq, d] routing queries; keys: [C, Hkv, d]; out: [C].
// Tr == 0 gives every chunk the lowest finite float (nothing is selectable).
void chunk_scores_ref(const float* u, int64_t Tr, int64_t Hq, const float* keys, int64_t C,
                      int64_t Hkv, int64_t d, HeadReduce hr, QueryReduce qr, float* out);

// chunk_begin: [ndocs+1] offsets into the chunk array (document i owns chunks
// chunk_begin[i] .. chunk_begin[i+1]-1). out: [ndocs].
void doc_scores_from_chunks(const float* chunk_scores, const int64_t* chunk_begin, int64_t ndocs,
                            ChunkReduce cr, float* out);

// Indices of the k highest valid scores (> kInvalidScore), best first; ties go
// to the lower index (deterministic; the reference leaves ties unspecified).
std::vector<int64_t> top_k(const float* scores, int64_t n, int64_t k);

}  // namespace msa::kernels
