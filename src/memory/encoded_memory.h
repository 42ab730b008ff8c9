// What stage 1 (memory encoding, spec §3) produces, independent of storage.
//
// For every routing layer (indexed by *slot* = position in
// ModelConfig::msa.routing_layers) a document contributes C = ceil(n/P)
// chunks; each chunk stores the mean over its tokens of
//   K  (attention key after k-norm and RoPE at the document-local position),
//   V  (attention value),
//   KR (router key x̂·W_kᴿᵀ; L2-normalised per KV head iff the score rule says so).
// All arrays are row-major [C, Hkv, d] f32. When decouple_router = false there
// is no KR: the routing key is K (normalised copy in `routing_key`).
#pragma once

#include <cstdint>
#include <vector>

namespace msa::memory {

struct EncodedDocument {
  int64_t num_tokens = 0;
  int64_t num_chunks = 0;
  std::vector<int32_t> chunk_token_count;      // [C]
  std::vector<std::vector<float>> pooled_k;     // [slot][C * Hkv * d]
  std::vector<std::vector<float>> pooled_v;     // [slot][C * Hkv * d]
  std::vector<std::vector<float>> routing_key;  // [slot][C * Hkv * d]: what routing scores against
};

// K/V of the 3 template-prefix tokens `<|im_start|>user\n` for every layer
// (spec §3.6a), identical for every query.
struct TemplateKV {
  int64_t num_tokens = 0;
  std::vector<std::vector<float>> k;  // [layer][T * Hkv * d]
  std::vector<std::vector<float>> v;  // [layer][T * Hkv * d]
};

}  // namespace msa::memory
