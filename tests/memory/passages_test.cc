// Real documents (issue 16): passage splitting on paragraph / sentence / word
// boundaries within the token cap, provenance, a source's passages replaced
// in one commit on update and delete, and ingest of a directory reporting
// files that carry nothing.
#include "memory/passages.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "../product/product_test_util.h"
#include "memory/bank_ingest.h"
#include "model/tokenizer.h"

namespace fs = std::filesystem;
using namespace msa;
using nlohmann::json;

namespace {

class Passages : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { model_dir_ = test_util::random_tiny_model_dir("passages"); }
  void SetUp() override {
    tok_ = std::make_shared<model::Tokenizer>(model::Tokenizer::load((model_dir_ / "tokenizer.json").string()));
  }
  int64_t tokens(std::string_view s) const { return int64_t(tok_->encode(s, false).size()); }

  std::unique_ptr<memory::Bank> make_bank(const std::string& tag) {
    bank_dir_ = fs::temp_directory_path() / ("msa_passages_" + std::to_string(::getpid()) + "_" + tag);
    fs::remove_all(bank_dir_);
    memory::Bank::create(bank_dir_.string(), model_dir_.string());
    memory::BankOpenOptions o;
    o.writer = true;
    o.model_dir = model_dir_.string();
    return memory::Bank::open(bank_dir_.string(), o);
  }
  void TearDown() override {
    if (!bank_dir_.empty()) fs::remove_all(bank_dir_);
  }

  static std::string long_text() {
    std::string t;
    for (int p = 0; p < 4; ++p) {
      for (int s = 0; s < 5; ++s)
        t += "the magic number for paragraph " + std::to_string(p) + " sentence " + std::to_string(s) + " is " +
             std::to_string(1000 + 37 * (p * 5 + s)) + ". ";
      t += "\n\n";
    }
    return t;
  }

  static inline fs::path model_dir_;
  std::shared_ptr<model::Tokenizer> tok_;
  fs::path bank_dir_;
};

TEST_F(Passages, SplitAtBoundariesWithinTheCapInOrder) {
  const std::string text = long_text();
  for (int64_t cap : {12, 20, 40, 80}) {
    const auto spans = memory::split_passages(*tok_, text, cap);
    ASSERT_GT(spans.size(), 1u) << cap;
    size_t prev_end = 0;
    for (const auto& s : spans) {
      const std::string p = text.substr(s.begin, s.end - s.begin);
      EXPECT_LE(tokens(p), cap) << p;
      EXPECT_GE(s.begin, prev_end);
      EXPECT_FALSE(std::isspace(static_cast<unsigned char>(p.front())) || std::isspace(static_cast<unsigned char>(p.back())));
      // Where sentences fit in the cap, every passage ends a sentence.
      if (cap >= 20) {
        EXPECT_EQ(p.back(), '.') << cap << ": " << p;
      }
      // Nothing but whitespace between passages: no text is lost.
      EXPECT_EQ(text.substr(prev_end, s.begin - prev_end).find_first_not_of(" \n"), std::string::npos);
      prev_end = s.end;
    }
    EXPECT_EQ(text.substr(prev_end).find_first_not_of(" \n"), std::string::npos);
  }
  // A passage never straddles a paragraph when paragraphs fit.
  const auto by_paragraph = memory::split_passages(*tok_, text, tokens(text.substr(0, text.find("\n\n"))) + 2);
  EXPECT_EQ(by_paragraph.size(), 4u);
  // Short text, or no cap: one passage, trimmed.
  EXPECT_EQ(memory::split_passages(*tok_, "  short text.\n", 64).size(), 1u);
  EXPECT_EQ(memory::split_passages(*tok_, text, 0).size(), 1u);
}

TEST_F(Passages, AWordLongerThanAPassageIsCut) {
  const std::string word(300, 'x'), text = word + " tail";
  const auto spans = memory::split_passages(*tok_, text, 8);
  EXPECT_GT(spans.size(), 1u);
  std::string joined;
  for (const auto& s : spans) {
    const std::string p = text.substr(s.begin, s.end - s.begin);
    EXPECT_LE(tokens(p), 8) << p;
    for (char c : p)
      if (c != ' ') joined += c;
  }
  EXPECT_EQ(joined, word + "tail");
}

TEST_F(Passages, SourceWritesReplaceAllPassagesInOneCommit) {
  auto bank = make_bank("source");
  const std::string text = long_text();
  memory::NewDocument src{text, "guide.md", "docs", R"({"author": "ana"})"};
  const auto g0 = bank->stats().generation;
  const auto ids = memory::write_source(*bank, *tok_, src, 20);
  EXPECT_EQ(bank->stats().generation, g0 + 1) << "one commit";
  ASSERT_GT(ids.size(), 2u);
  const auto docs = memory::find_source(*bank, "guide.md");
  ASSERT_EQ(docs.size(), ids.size());
  for (size_t i = 0; i < docs.size(); ++i) {
    EXPECT_EQ(docs[i].doc_id, ids[i]);
    EXPECT_EQ(docs[i].external_id, "guide.md#p" + std::to_string(i));
    EXPECT_EQ(docs[i].ns, "docs");
    const json m = json::parse(docs[i].metadata);
    EXPECT_EQ(m["author"], "ana");
    EXPECT_EQ(m["passage"]["source"], "guide.md");
    EXPECT_EQ(m["passage"]["index"], i);
    EXPECT_EQ(m["passage"]["count"], docs.size());
    const size_t b = m["passage"]["chars"][0], e = m["passage"]["chars"][1];
    EXPECT_EQ(text.substr(b, e - b), docs[i].text);
  }
  // A shorter new version: one document under the source's id, the rest gone, one commit.
  const auto g1 = bank->stats().generation;
  memory::NewDocument short_src{"now it is short.", "guide.md", "", ""};
  const auto ids2 = memory::write_source(*bank, *tok_, short_src, 20);
  EXPECT_EQ(bank->stats().generation, g1 + 1);
  ASSERT_EQ(ids2.size(), 1u);
  EXPECT_EQ(ids2[0], ids[0]) << "the first passage's model id is kept";
  const auto now = memory::find_source(*bank, "guide.md");
  ASSERT_EQ(now.size(), 1u);
  EXPECT_EQ(now[0].external_id, "guide.md");
  EXPECT_EQ(now[0].ns, "docs") << "an empty namespace keeps the source's";
  EXPECT_EQ(json::parse(now[0].metadata), json::parse(R"({"author": "ana"})")) << "metadata kept, provenance dropped";
  EXPECT_EQ(bank->stats().documents, 1);
  // Longer again, then removal of every passage in one commit.
  memory::write_source(*bank, *tok_, src, 20);
  EXPECT_EQ(int64_t(memory::find_source(*bank, "guide.md").size()), bank->stats().documents);
  std::vector<int64_t> all;
  for (const auto& d : memory::find_source(*bank, "guide.md")) all.push_back(d.doc_id);
  EXPECT_EQ(bank->remove(all), int64_t(all.size()));
  EXPECT_TRUE(memory::find_source(*bank, "guide.md").empty());
}

TEST_F(Passages, IngestSplitsReportsEmptyFilesAndResumes) {
  auto bank = make_bank("ingest");
  const fs::path dir = bank_dir_.string() + "_input";
  fs::remove_all(dir);
  fs::create_directories(dir);
  std::ofstream(dir / "long.md") << long_text();
  std::ofstream(dir / "short.txt") << "a short note.";
  std::ofstream(dir / "empty.txt") << "";
  std::ofstream(dir / "blank.md") << " \n\n ";
  std::vector<memory::IngestSkip> skipped;
  const auto items = memory::read_ingest_input(dir.string(), "default", &skipped);
  ASSERT_EQ(items.size(), 2u);
  ASSERT_EQ(skipped.size(), 2u);
  for (const auto& s : skipped) EXPECT_FALSE(s.reason.empty()) << s.path;
  memory::IngestOptions o;
  o.passage_tokens = 20;
  o.batch_docs = 2;  // smaller than the long file's passages: a source is never cut across commits
  const auto r = memory::ingest(*bank, items, o);
  EXPECT_EQ(r.added, 2);
  ASSERT_EQ(r.passage_ids.size(), 2u);
  EXPECT_GT(r.passage_ids[0].size(), 2u);
  EXPECT_EQ(r.passage_ids[1].size(), 1u);
  EXPECT_EQ(memory::find_source(*bank, "long.md").size(), r.passage_ids[0].size());
  // Re-running commits nothing.
  const auto g = bank->stats().generation;
  const auto again = memory::ingest(*bank, items, o);
  EXPECT_EQ(again.skipped, 2);
  EXPECT_EQ(again.passage_ids, r.passage_ids);
  EXPECT_EQ(bank->stats().generation, g);
  fs::remove_all(dir);
}

}  // namespace
