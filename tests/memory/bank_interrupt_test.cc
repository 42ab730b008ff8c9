// BankOpenOptions::interrupt_check (Ctrl-C in the Python package): an exception
// from it aborts a write with nothing committed, whichever call throws —
// between stage-1 batches or the last one before the commit.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <stdexcept>

#include "engine/product.h"
#include "memory/bank.h"

namespace fs = std::filesystem;
using namespace msa;

namespace {

std::vector<memory::NewDocument> docs(int n, int from) {
  std::vector<memory::NewDocument> v;
  for (int i = 0; i < n; ++i)
    v.push_back({"document " + std::to_string(from + i) + " about rivers, lamps and the silver harbor.", "", "default", ""});
  return v;
}

}  // namespace

TEST(BankInterrupt, AbortsBeforeCommit) {
  const auto m = engine::load_model((fs::path(MSA_SOURCE_DIR) / "models" / "msa-tiny").string());
  const fs::path dir = fs::temp_directory_path() / ("msa_bank_interrupt_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  memory::Bank::create(dir.string(), m.dir);
  int calls = 0, throw_at = 0;  // 0: never
  auto o = engine::bank_open_options(m, /*writer=*/true);
  o.encode_batch_tokens = 64;  // several stage-1 batches per write
  o.interrupt_check = [&] {
    if (++calls == throw_at) throw std::runtime_error("interrupted");
  };
  auto bank = memory::Bank::open(dir.string(), o);
  ASSERT_EQ(bank->add_documents(docs(2, 0)), (std::vector<int64_t>{0, 1}));

  calls = 0;
  bank->add_documents(docs(20, 2));
  const int per_write = calls;  // batches + the final check
  ASSERT_GE(per_write, 4);
  const auto before = bank->stats();

  for (int at : {1, 2, per_write}) {  // first batch, a later batch, just before the commit
    calls = 0;
    throw_at = at;
    EXPECT_THROW(bank->add_documents(docs(20, 100)), std::runtime_error) << at;
    const auto after = bank->stats();
    EXPECT_EQ(after.documents, before.documents);
    EXPECT_EQ(after.generation, before.generation);
    EXPECT_EQ(after.segments, before.segments);
    EXPECT_EQ(bank->next_document_id(), 22);
  }
  throw_at = 0;
  bank->verify();
  EXPECT_EQ(bank->add_documents(docs(1, 200)), (std::vector<int64_t>{22}));
  bank.reset();
  memory::Bank::verify_dir(dir.string());
  fs::remove_all(dir);
}
