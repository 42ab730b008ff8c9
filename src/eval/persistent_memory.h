// The memory path of the product for `msa eval --bank-path persistent`: a
// temporary persistent bank (memory::Bank as `msa bank create` makes it: bf16
// routing keys and bf16 content K/V on disk, the bf16 routing index in RAM)
// holding given stage-1 encodings at ids 0..n-1, read through the same
// BankSnapshot that `msa ask` and `msa serve` route over. Removed on destruction.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "memory/bank.h"

namespace msa::eval {

// Which memory the evaluator routes over; every published number names it.
enum class BankPath { kInMemory, kPersistent };
const char* bank_path_name(BankPath p);  // "in-memory-f32" | "persistent-bf16"
BankPath parse_bank_path(const std::string& s);  // "in-memory" | "persistent" (or the names above)

class PersistentMemory {
 public:
  // docs[i] becomes document i (texts[i] its text); `tag` names the directory.
  PersistentMemory(const std::filesystem::path& work_dir, const std::filesystem::path& model_dir,
                   std::shared_ptr<const model::Model> model,
                   const std::vector<const memory::EncodedDocument*>& docs, const std::vector<std::string>& texts,
                   const std::string& tag);
  ~PersistentMemory();
  PersistentMemory(const PersistentMemory&) = delete;
  PersistentMemory& operator=(const PersistentMemory&) = delete;

  const memory::MemoryView& view() const { return *snapshot_; }

 private:
  std::filesystem::path dir_;
  std::unique_ptr<memory::Bank> bank_;
  std::shared_ptr<const memory::BankSnapshot> snapshot_;
};

}  // namespace msa::eval
