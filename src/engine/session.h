// One generation session over an MSA model (spec §4, §5).
//
// prefill() is stage 2: the question row runs through every layer; in each
// routing layer the routing tokens' queries score the memory, the top-k
// documents are selected for that layer alone, and the layer's context becomes
// [template K/V ; pooled K/V of every chunk of the selected documents ; the
// row's own K/V]. Non-routing layers see [template ; row]. decode() is stage 3:
// one token at a time over that fixed context (no re-routing), with a KV cache.
// Without a memory (plain LLM use) every layer sees only the row itself.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "memory/memory_view.h"
#include "model/model.h"

namespace msa::engine {

struct EngineOptions {
  int64_t top_k = 16;          // documents per routing layer (the reference's doc_top_k)
  bool cosine_scores = false;  // force the paper's cosine scoring (spec §4.4 / §10 #1)
  bool capture_routing_queries = false;  // keep each layer's routing queries (diagnostics)
};

// k for a model: msa_config.doc_top_k when the checkpoint carries it, else 16 (spec §1.5).
int64_t default_top_k(const model::ModelConfig& cfg);

struct LayerRouting {
  int layer = -1;
  std::vector<memory::DocScore> selected;  // best first
  std::vector<int64_t> context_docs;       // selected ids in context order (ascending)
  int64_t context_chunks = 0;
  std::vector<float> query;  // [Tr, Hq, d], normalised per the rule, α not applied (if captured)
  int64_t routing_tokens = 0;
  double route_ms = 0;  // scoring + top-k over the memory
  double fetch_ms = 0;  // reading the selected documents' pooled K/V (slow tier)
};

class Session {
 public:
  Session(std::shared_ptr<const model::Model> m, const memory::MemoryView* memory,
          EngineOptions opts = {});

  // Stage 2. tags: 0 marks routing-query tokens (spec §2); positions: one per
  // token (3 + k + t for a first-round row). logits: [V] for the last token,
  // or [T, V] for every token when all_logits.
  void prefill(const std::vector<int32_t>& ids, const std::vector<int32_t>& tags,
               const std::vector<int32_t>& positions, std::vector<float>* logits,
               bool all_logits = false);

  // Stage 3: feeds one token at next_position(); logits: [V].
  void decode(int32_t token, std::vector<float>* logits);

  // Feeds a block of tokens during decoding (interleave restatement). causal=false
  // reproduces the reference's quirk (spec §5.4); logits of the last token.
  void feed_block(const std::vector<int32_t>& ids, bool causal, std::vector<float>* logits);

  int32_t next_position() const { return next_pos_; }
  int64_t context_rows(int layer) const { return cache_[size_t(layer)].rows; }
  const std::vector<LayerRouting>& routing() const { return routing_; }
  const model::Model& model() const { return *m_; }
  int64_t top_k() const { return opts_.top_k; }

 private:
  struct LayerCache {
    std::vector<float> k, v;  // [rows, Hkv*d]
    int64_t rows = 0;
  };
  void run_layers(const std::vector<int32_t>& ids, const std::vector<int32_t>& positions,
                  const std::vector<int32_t>* tags, bool causal, bool route,
                  std::vector<float>* hidden);
  void route_layer(int layer, int slot, const float* xhat, const float* q, int64_t T,
                   const std::vector<int32_t>& tags, LayerCache* cache);

  std::shared_ptr<const model::Model> m_;
  const memory::MemoryView* memory_;
  EngineOptions opts_;
  std::vector<LayerCache> cache_;
  std::vector<LayerRouting> routing_;
  int32_t next_pos_ = 0;
  bool prefilled_ = false;
};

}  // namespace msa::engine
