#include "engine/bank_service.h"

#include <algorithm>

namespace msa::engine {

bool all_namespaces(const std::vector<std::string>& ns) {
  return std::find(ns.begin(), ns.end(), "*") != ns.end();
}

DocumentRecord to_record(const memory::DocumentInfo& d) {
  DocumentRecord r;
  r.id = d.doc_id;
  r.external_id = d.external_id;
  r.ns = d.ns;
  r.text = d.text;
  r.metadata_json = d.metadata;
  r.version = d.version;
  r.tokens = d.num_tokens;
  return r;
}

MemorySnapshot make_snapshot(std::shared_ptr<const memory::BankSnapshot> snap) {
  MemorySnapshot s;
  s.view = snap;
  s.text = [snap](int64_t id) { return snap->document_text(id); };
  s.info = [snap](int64_t id) -> std::optional<CitedDocumentInfo> {
    auto d = snap->document(id);
    if (!d) return std::nullopt;
    return CitedDocumentInfo{d->external_id, d->text};
  };
  return s;
}

MemorySnapshot BankService::snapshot(const std::vector<std::string>& ns) const {
  return make_snapshot(all_namespaces(ns) ? bank_->snapshot_all() : bank_->snapshot(ns));
}

std::vector<DocumentRecord> BankService::add(const std::vector<NewDocumentRequest>& docs) {
  std::vector<memory::NewDocument> in;
  for (const auto& d : docs) in.push_back({d.text, d.external_id, d.ns, d.metadata_json});
  const auto ids = bank_->add_documents(in);
  std::vector<DocumentRecord> out;
  for (int64_t id : ids)
    if (auto d = bank_->document(id)) out.push_back(to_record(*d));
  return out;
}

std::optional<DocumentRecord> BankService::get(int64_t id, const std::vector<std::string>& ns) const {
  auto d = bank_->document(id);
  if (!d || !(all_namespaces(ns) || std::find(ns.begin(), ns.end(), d->ns) != ns.end())) return std::nullopt;
  return to_record(*d);
}

std::optional<DocumentRecord> BankService::update(int64_t id, const std::string& text,
                                                  const std::vector<std::string>& ns) {
  if (!get(id, ns)) return std::nullopt;
  memory::NewDocument d;
  d.text = text;
  d.ns.clear();  // keep the document's namespace
  bank_->update(id, d);
  return get(id, ns);
}

bool BankService::remove(int64_t id, const std::vector<std::string>& ns) {
  if (!get(id, ns)) return false;
  return bank_->remove({id}) > 0;
}

std::vector<DocumentRecord> BankService::list(const std::vector<std::string>& ns, int64_t offset, int64_t limit,
                                              int64_t* total) const {
  const std::vector<std::string> filter = all_namespaces(ns) ? std::vector<std::string>{} : ns;
  if (total) *total = filter.empty() ? bank_->stats().documents : int64_t(bank_->list(filter).size());
  std::vector<DocumentRecord> out;
  for (const auto& d : bank_->list(filter, offset, limit)) out.push_back(to_record(d));
  return out;
}

MemoryStats BankService::stats() const {
  const auto s = bank_->stats();
  return {s.documents, s.tokens, s.chunks};
}

}  // namespace msa::engine
