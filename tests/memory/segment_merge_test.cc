// Bank::merge_small_segments (issue 16's soak): the run of small segments that
// single-document writes leave is merged into one; live documents, versions
// and routing survive, dead versions are dropped from segments, a snapshot
// taken before keeps reading, and the bank verifies and reopens.
#include <gtest/gtest.h>

#include <filesystem>

#include "../product/product_test_util.h"
#include "memory/bank.h"

namespace fs = std::filesystem;
using namespace msa;

TEST(SegmentMerge, SmallTailSegmentsBecomeOne) {
  const auto model_dir = test_util::random_tiny_model_dir("merge");
  const fs::path dir = fs::temp_directory_path() / ("msa_merge_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  memory::Bank::create(dir.string(), model_dir.string());
  memory::BankOpenOptions o;
  o.writer = true;
  o.model_dir = model_dir.string();
  auto bank = memory::Bank::open(dir.string(), o);
  std::vector<int64_t> ids;
  for (int i = 0; i < 20; ++i)
    ids.push_back(bank->add_documents({{"note number " + std::to_string(i) + " says " + std::to_string(100 + i) + " .",
                                        "n" + std::to_string(i), i % 2 ? "A" : "B", ""}})[0]);
  bank->update(ids[3], {"note three was rewritten .", "", "", ""});
  bank->remove({ids[5], ids[6]});
  EXPECT_EQ(bank->stats().segments, 21);
  EXPECT_EQ(bank->merge_small_segments(32), 0) << "fewer than min_segments: nothing to do";
  const auto before = bank->snapshot_all();
  const auto docs_before = bank->list();
  EXPECT_EQ(bank->merge_small_segments(16), 21);
  EXPECT_EQ(bank->stats().segments, 1);
  EXPECT_EQ(bank->stats().documents, 18);
  const auto docs_after = bank->list();
  ASSERT_EQ(docs_after.size(), docs_before.size());
  for (size_t i = 0; i < docs_after.size(); ++i) {
    EXPECT_EQ(docs_after[i].doc_id, docs_before[i].doc_id);
    EXPECT_EQ(docs_after[i].version, docs_before[i].version);
    EXPECT_EQ(bank->snapshot_all()->document_text(docs_after[i].doc_id), before->document_text(docs_after[i].doc_id));
  }
  EXPECT_FALSE(bank->snapshot_all()->document_text(ids[5]).has_value());
  EXPECT_EQ(*before->document_text(ids[3]), "note three was rewritten .") << "the old snapshot still reads";
  // Later writes append after the merged segment; the bank verifies and reopens the same.
  bank->add_documents({{"one more .", "", "A", ""}});
  EXPECT_EQ(bank->stats().segments, 2);
  memory::Bank::verify_dir(dir.string());
  bank.reset();
  auto again = memory::Bank::open(dir.string(), o);
  EXPECT_EQ(again->stats().documents, 19);
  EXPECT_EQ(again->document(ids[3])->text, "note three was rewritten .");
  again.reset();
  fs::remove_all(dir);
  fs::remove_all(model_dir);
}
