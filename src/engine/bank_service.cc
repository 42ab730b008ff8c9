#include "engine/bank_service.h"

#include <algorithm>

#include "memory/passages.h"

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
    return CitedDocumentInfo{d->external_id, d->text, d->metadata};
  };
  return s;
}

MemorySnapshot BankService::snapshot(const std::vector<std::string>& ns) const {
  return make_snapshot(all_namespaces(ns) ? bank_->snapshot_all() : bank_->snapshot(ns));
}

std::vector<DocumentRecord> BankService::add(const std::vector<NewDocumentRequest>& docs) {
  std::vector<memory::NewDocument> in;
  for (const auto& d : docs) {
    memory::NewDocument nd{d.text, d.external_id, d.ns, d.metadata_json};
    if (passage_tokens_ > 0)
      for (auto& p : memory::source_passages(*tok_, nd, passage_tokens_)) in.push_back(std::move(p));
    else
      in.push_back(std::move(nd));
  }
  const auto ids = bank_->add_documents(in);
  bank_->merge_small_segments();
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
  bank_->merge_small_segments();
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

std::optional<DocumentRecord> BankService::update(int64_t id, const DocumentChange& c,
                                                  const std::vector<std::string>& ns) {
  if (!get(id, ns)) return std::nullopt;
  memory::NewDocument d;
  d.text = c.text;
  d.ns = c.ns.value_or("");  // "" keeps the document's namespace
  if (c.metadata_json) {
    // Bank::write keeps the old metadata for "": "{}" clears it explicitly.
    d.metadata = c.metadata_json->empty() ? "{}" : *c.metadata_json;
  }
  bank_->write({d}, {id});
  bank_->merge_small_segments();
  return get(id, {"*"});
}

std::vector<DocumentRecord> BankService::find_source(const std::string& external_id) const {
  std::vector<DocumentRecord> out;
  for (const auto& d : memory::find_source(*bank_, external_id)) out.push_back(to_record(d));
  return out;
}

std::vector<DocumentRecord> BankService::put_source(const NewDocumentRequest& src, bool* created) {
  MSA_CHECK(tok_, "put_source needs the tokenizer");
  memory::NewDocument d{src.text, src.external_id, src.ns, src.metadata_json};
  if (created) *created = memory::find_source(*bank_, src.external_id).empty();
  std::vector<DocumentRecord> out;
  const auto ids = memory::write_source(*bank_, *tok_, d, passage_tokens_);
  bank_->merge_small_segments();
  for (int64_t id : ids)
    if (auto r = bank_->document(id)) out.push_back(to_record(*r));
  return out;
}

int64_t BankService::remove_source(const std::string& external_id) {
  std::vector<int64_t> ids;
  for (const auto& d : memory::find_source(*bank_, external_id)) ids.push_back(d.doc_id);
  return ids.empty() ? 0 : bank_->remove(ids);
}

MemoryStats BankService::stats() const {
  const auto s = bank_->stats();
  return {s.documents, s.tokens, s.chunks};
}

}  // namespace msa::engine
