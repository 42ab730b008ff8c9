// BankSnapshot: the MemoryView over one immutable bank state.
#include <algorithm>

#include "core/error.h"
#include "memory/bank.h"
#include "memory/bank_state.h"

namespace msa::memory {

BankSnapshot::BankSnapshot(std::shared_ptr<const BankState> st, NamespaceFilter filter)
    : st_(std::move(st)), filter_(std::move(filter)) {
  for (auto& [ns, n] : st_->live_per_ns)
    if (filter_.admits(ns)) num_docs_ += n;
}

const TemplateKV& BankSnapshot::template_kv() const { return *st_->tmpl; }
int64_t BankSnapshot::num_docs() const { return num_docs_; }
uint64_t BankSnapshot::generation() const { return st_->manifest.generation; }

std::vector<DocScore> BankSnapshot::route(int slot, const RoutingQuery& q) const {
  // Each partition applies the namespace filter inside its scan and returns
  // its own top-k; the global top-k is among their union.
  std::vector<DocScore> all;
  for (const auto& p : st_->partitions) {
    if (p->index->num_docs() == 0) continue;
    auto r = p->index->search(slot, q, filter_);
    all.insert(all.end(), r.begin(), r.end());
  }
  std::sort(all.begin(), all.end(), [](const DocScore& a, const DocScore& b) {
    return a.score > b.score || (a.score == b.score && a.doc < b.doc);
  });
  if (int64_t(all.size()) > q.k) all.resize(size_t(q.k));
  return all;
}

bool BankSnapshot::visible(int64_t doc) const {
  auto it = st_->live->find(doc);
  return it != st_->live->end() && filter_.admits(it->second.ns);
}

int64_t BankSnapshot::append_chunks(int slot, int64_t doc, std::vector<float>* k_out,
                                    std::vector<float>* v_out) const {
  auto it = st_->live->find(doc);
  MSA_CHECK(it != st_->live->end() && filter_.admits(it->second.ns), "document {} is not in this bank view", doc);
  const BankSegment& s = *it->second.seg;
  MSA_CHECK(slot >= 0 && slot < int(s.k.size()), "routing slot {} out of range", slot);
  const bankfmt::Info& in = s.parsed.info;
  const bankfmt::DocEntry& e = s.docs[it->second.local];
  const size_t W = size_t(in.kv_heads) * in.head_dim, n = size_t(e.num_chunks) * W;
  const size_t k0 = k_out->size(), v0 = v_out->size();
  k_out->resize(k0 + n);
  v_out->resize(v0 + n);
  bankfmt::decode_vectors(bankfmt::VecType(in.k_type), s.k[size_t(slot)], in.num_chunks, in.kv_heads, in.head_dim,
                          e.first_chunk, e.num_chunks, k_out->data() + k0);
  bankfmt::decode_vectors(bankfmt::VecType(in.v_type), s.v[size_t(slot)], in.num_chunks, in.kv_heads, in.head_dim,
                          e.first_chunk, e.num_chunks, v_out->data() + v0);
  return e.num_chunks;
}

std::optional<DocumentInfo> BankSnapshot::document(int64_t doc) const {
  auto it = st_->live->find(doc);
  if (it == st_->live->end() || !filter_.admits(it->second.ns)) return std::nullopt;
  return st_->catalog->get(doc, it->second.version, true);
}

std::optional<std::string> BankSnapshot::document_text(int64_t doc) const {
  auto d = document(doc);
  if (!d) return std::nullopt;
  return std::move(d->text);
}

}  // namespace msa::memory
