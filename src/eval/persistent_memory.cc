#include "eval/persistent_memory.h"

#include <unistd.h>

#include "core/error.h"

namespace msa::eval {

namespace fs = std::filesystem;

const char* bank_path_name(BankPath p) { return p == BankPath::kPersistent ? "persistent-bf16" : "in-memory-f32"; }

BankPath parse_bank_path(const std::string& s) {
  if (s == "persistent" || s == "persistent-bf16") return BankPath::kPersistent;
  if (s == "in-memory" || s == "in-memory-f32") return BankPath::kInMemory;
  throw_error("unknown bank path '{}' (persistent | in-memory)", s);
}

PersistentMemory::PersistentMemory(const fs::path& work_dir, const fs::path& model_dir,
                                   std::shared_ptr<const model::Model> model,
                                   const std::vector<const memory::EncodedDocument*>& docs,
                                   const std::vector<std::string>& texts, const std::string& tag) {
  MSA_CHECK(docs.size() == texts.size(), "persistent memory: {} encodings but {} texts", docs.size(), texts.size());
  dir_ = (work_dir.empty() ? fs::temp_directory_path() : work_dir) /
         ("msa_eval_bank_" + std::to_string(::getpid()) + "_" + tag);
  fs::remove_all(dir_);
  memory::Bank::create(dir_.string(), model_dir.string());  // the product's defaults: bf16 keys and K/V
  memory::BankOpenOptions bo;
  bo.writer = true;
  bo.model = model;
  bo.model_dir = model_dir.string();
  bo.verify_checksums = false;  // written just now by this process
  bank_ = memory::Bank::open(dir_.string(), bo);
  std::vector<memory::NewDocument> batch(docs.size());
  std::vector<memory::PreparedDocument> prepared(docs.size());
  for (size_t i = 0; i < docs.size(); ++i) {
    batch[i].text = texts[i];
    // Non-owning: the caller's encodings outlive this constructor's commit.
    prepared[i].encoded = std::shared_ptr<const memory::EncodedDocument>(std::shared_ptr<const void>(), docs[i]);
  }
  const auto ids = bank_->add_prepared(batch, prepared);
  MSA_CHECK(ids.empty() || (ids.front() == 0 && ids.back() == int64_t(ids.size()) - 1),
            "persistent memory: the bank did not assign ids 0..{}", ids.size() - 1);
  snapshot_ = bank_->snapshot_all();
}

PersistentMemory::~PersistentMemory() {
  snapshot_.reset();
  bank_.reset();
  std::error_code ec;
  fs::remove_all(dir_, ec);
}

}  // namespace msa::eval
