#include "memory/in_memory_bank.h"

#include "core/error.h"

namespace msa::memory {

InMemoryBank::InMemoryBank(int num_slots, int64_t kv_heads, int64_t head_dim, KeyStorage storage)
    : width_(kv_heads * head_dim), kv_heads_(kv_heads), head_dim_(head_dim),
      k_(static_cast<size_t>(num_slots)), v_(static_cast<size_t>(num_slots)),
      rk_(static_cast<size_t>(num_slots)),
      index_(RoutingIndexOptions{num_slots, kv_heads, head_dim, storage, 4}) {}

int64_t InMemoryBank::add(const EncodedDocument& doc) {
  MSA_CHECK(doc.pooled_k.size() == k_.size(), "encoded document has {} routing layers, bank has {}",
            doc.pooled_k.size(), k_.size());
  for (size_t s = 0; s < k_.size(); ++s) {
    const size_t n = size_t(doc.num_chunks * width_);
    MSA_CHECK(doc.pooled_k[s].size() == n && doc.pooled_v[s].size() == n &&
                  doc.routing_key[s].size() == n,
              "encoded document has wrongly shaped pooled tensors");
    k_[s].insert(k_[s].end(), doc.pooled_k[s].begin(), doc.pooled_k[s].end());
    v_[s].insert(v_[s].end(), doc.pooled_v[s].begin(), doc.pooled_v[s].end());
    rk_[s].insert(rk_[s].end(), doc.routing_key[s].begin(), doc.routing_key[s].end());
  }
  chunk_tokens_.insert(chunk_tokens_.end(), doc.chunk_token_count.begin(),
                       doc.chunk_token_count.end());
  chunk_begin_.push_back(chunk_begin_.back() + doc.num_chunks);
  index_.add(num_docs() - 1, 0, doc);
  return num_docs() - 1;
}

void InMemoryBank::score_all(int slot, const RoutingQuery& q, std::vector<float>* chunk_scores,
                             std::vector<float>* doc_scores) const {
  MSA_CHECK(q.Hq * q.d == 0 || (q.Hq % kv_heads_ == 0 && q.d == head_dim_),
            "routing query shape [{}, {}] does not match bank keys [{}, {}]", q.Hq, q.d, kv_heads_,
            head_dim_);
  chunk_scores->assign(size_t(num_chunks()), 0.f);
  doc_scores->assign(size_t(num_docs()), 0.f);
  kernels::chunk_scores_ref(q.u, q.Tr, q.Hq, rk_[size_t(slot)].data(), num_chunks(), kv_heads_,
                            head_dim_, q.head_reduce, q.query_reduce, chunk_scores->data());
  kernels::doc_scores_from_chunks(chunk_scores->data(), chunk_begin_.data(), num_docs(),
                                  q.chunk_reduce, doc_scores->data());
}

std::vector<DocScore> InMemoryBank::route(int slot, const RoutingQuery& q) const {
  return index_.route(slot, q);
}

int64_t InMemoryBank::append_chunks(int slot, int64_t doc, std::vector<float>* k_out,
                                    std::vector<float>* v_out) const {
  MSA_CHECK(doc >= 0 && doc < num_docs(), "document {} is not in the bank", doc);
  const int64_t b = chunk_begin_[size_t(doc)], e = chunk_begin_[size_t(doc) + 1];
  const auto& k = k_[size_t(slot)];
  const auto& v = v_[size_t(slot)];
  k_out->insert(k_out->end(), k.begin() + b * width_, k.begin() + e * width_);
  v_out->insert(v_out->end(), v.begin() + b * width_, v.begin() + e * width_);
  return e - b;
}

}  // namespace msa::memory
