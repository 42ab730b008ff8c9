// engine::MemoryService over a persistent memory::Bank in this process (the
// single-machine `msa ask` / `msa chat` / `msa serve`). Every write is one
// commit; afterwards the run of small segments that single-document writes
// leave at the end of the bank is merged once it reaches 16
// (Bank::merge_small_segments), so a long-running server keeps a bounded
// number of mapped segments.
#pragma once

#include <memory>

#include "engine/memory_service.h"
#include "memory/bank.h"
#include "model/tokenizer.h"

namespace msa::engine {

class BankService : public MemoryService {
 public:
  // tok + passage_tokens > 0: added documents longer than a passage are split
  // into passages (memory/passages.h); otherwise every document is stored whole.
  explicit BankService(std::shared_ptr<memory::Bank> bank, std::shared_ptr<const model::Tokenizer> tok = nullptr,
                       int64_t passage_tokens = 0)
      : bank_(std::move(bank)), tok_(std::move(tok)), passage_tokens_(tok_ ? passage_tokens : 0) {}
  MemorySnapshot snapshot(const std::vector<std::string>& namespaces) const override;
  std::vector<DocumentRecord> add(const std::vector<NewDocumentRequest>& docs) override;
  std::optional<DocumentRecord> update(int64_t id, const std::string& text,
                                       const std::vector<std::string>& namespaces) override;
  bool remove(int64_t id, const std::vector<std::string>& namespaces) override;
  std::optional<DocumentRecord> get(int64_t id, const std::vector<std::string>& namespaces) const override;
  std::vector<DocumentRecord> list(const std::vector<std::string>& namespaces, int64_t offset, int64_t limit,
                                   int64_t* total) const override;
  MemoryStats stats() const override;
  using MemoryService::update;
  std::optional<DocumentRecord> update(int64_t id, const DocumentChange& change,
                                       const std::vector<std::string>& namespaces) override;
  std::vector<DocumentRecord> find_source(const std::string& external_id) const override;
  std::vector<DocumentRecord> put_source(const NewDocumentRequest& source, bool* created) override;
  int64_t remove_source(const std::string& external_id) override;
  memory::Bank& bank() { return *bank_; }

 private:
  std::shared_ptr<memory::Bank> bank_;
  std::shared_ptr<const model::Tokenizer> tok_;
  int64_t passage_tokens_ = 0;
};

// Snapshot helpers shared by every MemoryService over BankSnapshot views.
MemorySnapshot make_snapshot(std::shared_ptr<const memory::BankSnapshot> snap);
DocumentRecord to_record(const memory::DocumentInfo& d);
bool all_namespaces(const std::vector<std::string>& namespaces);

}  // namespace msa::engine
