// engine::MemoryService over a persistent memory::Bank in this process (the
// single-machine `msa ask` / `msa chat` / `msa serve`).
#pragma once

#include <memory>

#include "engine/memory_service.h"
#include "memory/bank.h"

namespace msa::engine {

class BankService : public MemoryService {
 public:
  explicit BankService(std::shared_ptr<memory::Bank> bank) : bank_(std::move(bank)) {}
  MemorySnapshot snapshot(const std::vector<std::string>& namespaces) const override;
  std::vector<DocumentRecord> add(const std::vector<NewDocumentRequest>& docs) override;
  std::optional<DocumentRecord> update(int64_t id, const std::string& text,
                                       const std::vector<std::string>& namespaces) override;
  bool remove(int64_t id, const std::vector<std::string>& namespaces) override;
  std::optional<DocumentRecord> get(int64_t id, const std::vector<std::string>& namespaces) const override;
  std::vector<DocumentRecord> list(const std::vector<std::string>& namespaces, int64_t offset, int64_t limit,
                                   int64_t* total) const override;
  MemoryStats stats() const override;
  memory::Bank& bank() { return *bank_; }

 private:
  std::shared_ptr<memory::Bank> bank_;
};

// Snapshot helpers shared by every MemoryService over BankSnapshot views.
MemorySnapshot make_snapshot(std::shared_ptr<const memory::BankSnapshot> snap);
DocumentRecord to_record(const memory::DocumentInfo& d);
bool all_namespaces(const std::vector<std::string>& namespaces);

}  // namespace msa::engine
