// A memory bank held entirely in RAM (f32 content K/V): the simplest
// MemoryView, used for conformance runs, tests and small demos. route() goes
// through the fused RoutingIndex (stage 2 of the engine); score_all() uses the
// scalar reference reductions of kernels/routing_score.h (diagnostics/oracle).
#pragma once

#include <vector>

#include "memory/encoded_memory.h"
#include "memory/memory_view.h"
#include "memory/routing_index.h"

namespace msa::memory {

class InMemoryBank : public MemoryView {
 public:
  // storage: how the routing index keeps the keys (F32 = exact parity with the reference).
  InMemoryBank(int num_slots, int64_t kv_heads, int64_t head_dim,
               KeyStorage storage = KeyStorage::F32);

  void set_template(TemplateKV t) { template_ = std::move(t); }
  // Appends a document; its id is its position (0, 1, 2, ...).
  int64_t add(const EncodedDocument& doc);

  const TemplateKV& template_kv() const override { return template_; }
  int64_t num_docs() const override { return int64_t(chunk_begin_.size()) - 1; }
  std::vector<DocScore> route(int slot, const RoutingQuery& q) const override;
  int64_t append_chunks(int slot, int64_t doc, std::vector<float>* k_out,
                        std::vector<float>* v_out) const override;

  // Every chunk's and document's score (diagnostics, conformance).
  void score_all(int slot, const RoutingQuery& q, std::vector<float>* chunk_scores,
                 std::vector<float>* doc_scores) const;

  int64_t num_chunks() const { return chunk_begin_.back(); }
  const std::vector<int64_t>& chunk_begin() const { return chunk_begin_; }
  const std::vector<int32_t>& chunk_token_count() const { return chunk_tokens_; }
  const std::vector<float>& pooled_k(int slot) const { return k_[size_t(slot)]; }
  const std::vector<float>& pooled_v(int slot) const { return v_[size_t(slot)]; }
  const std::vector<float>& routing_keys(int slot) const { return rk_[size_t(slot)]; }

 private:
  int64_t width_;  // Hkv * d
  int64_t kv_heads_, head_dim_;
  TemplateKV template_;
  std::vector<int64_t> chunk_begin_{0};
  std::vector<int32_t> chunk_tokens_;
  std::vector<std::vector<float>> k_, v_, rk_;  // [slot][C * width]
  RoutingIndex index_;
};

}  // namespace msa::memory
