// End to end through the real binary with the embedded model: msa bank create
// → msa bank add (bundled synthetic corpora) → msa ask --json, single needle
// and two hops. Checks the JSON contract, that routing selects the gold
// documents, that the answers and citations are right, and that a question
// restricted to another namespace cannot see the corpus.
#include <gtest/gtest.h>

#include "cli_runner.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>

#include <sys/wait.h>

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// Minimum accuracy on the bundled (fixed-seed) demo corpora with the shipped
// model, measured when this was written: NIAH 3 of 3, two hops 2 of 2.
constexpr int kMinNiahCorrect = 3;
constexpr int kMinHop2Correct = 2;

using msa::test_util::read_jsonl;
using msa::test_util::shell_quote;

int run(const std::string& cmd, std::string* out) { return msa::test_util::run_command(cmd, out); }

class AskEndToEnd : public ::testing::Test {
 protected:
  void SetUp() override {
    model_ = fs::path(MSA_SOURCE_DIR) / "models" / "msa-tiny";
    ASSERT_TRUE(fs::exists(model_ / "config.json")) << "the embedded model is missing: " << model_;
  }

  // A bank holding data/demo/<corpus>/docs.jsonl in namespace "demo".
  fs::path make_bank(const std::string& corpus) {
    const fs::path bank = fs::temp_directory_path() / ("msa_ask_e2e_" + std::to_string(::getpid()) + corpus);
    fs::remove_all(bank);
    std::string out;
    EXPECT_EQ(run(std::string(MSA_BINARY) + " bank create " + bank.string() + " --model " + model_.string(), &out), 0)
        << out;
    const fs::path docs = fs::path(MSA_SOURCE_DIR) / "data" / "demo" / corpus / "docs.jsonl";
    EXPECT_EQ(run(std::string(MSA_BINARY) + " bank add " + bank.string() + " " + docs.string() + " --namespace demo", &out), 0)
        << out;
    return bank;
  }

  json ask(const fs::path& bank, const std::string& q, const std::string& extra = "") {
    std::string out;
    const int rc = run(std::string(MSA_BINARY) + " ask --bank " + bank.string() + " --model " + model_.string() +
                           " --json " + extra + " " + shell_quote(q),
                       &out);
    // Exit 0 with an answer, 3 without (docs/usage.md); stderr (merged) says "no answer".
    const size_t brace = out.find('{');
    const size_t eol = brace == std::string::npos ? std::string::npos : out.find('\n', brace);
    json j = json::parse(brace == std::string::npos ? out : out.substr(brace, eol == std::string::npos ? std::string::npos : eol - brace),
                         nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << out;
    if (j.is_discarded()) return j;
    EXPECT_EQ(rc, j["answer"].get<std::string>().empty() ? 3 : 0) << out;
    EXPECT_EQ(j["answered"], !j["answer"].get<std::string>().empty());
    return j;
  }

  static std::set<int64_t> selected_in_round(const json& j, size_t round) {
    std::set<int64_t> s;
    for (const auto& [layer, docs] : j["rounds"][round]["selected"].items())
      for (const auto& d : docs) s.insert(d[0].get<int64_t>());
    return s;
  }

  fs::path model_;
};

TEST_F(AskEndToEnd, SingleNeedleAnswersWithCitations) {
  int correct = 0, routed = 0, right_id = 0, questions = 0;
  for (const std::string corpus : {"niah-1", "niah-2", "niah-3"}) {
   const fs::path bank = make_bank(corpus);
   for (const auto& q : read_jsonl(fs::path(MSA_SOURCE_DIR) / "data" / "demo" / corpus / "questions.jsonl")) {
    ++questions;
    const json j = ask(bank, q["question"]);
    for (const char* key : {"answer", "rounds", "citations", "tokens", "timings_ms"}) ASSERT_TRUE(j.contains(key)) << key;
    ASSERT_GE(j["rounds"].size(), 1u);
    for (const char* key : {"route", "prefill", "decode"}) EXPECT_TRUE(j["timings_ms"][key].is_number());
    EXPECT_GT(j["tokens"]["prompt"].get<int64_t>(), 0);
    const int64_t gold = q["gold_doc_ids"][0];
    // Every routing layer of round 1 selects the needle (recall@k = 1.0 to 64k
    // tokens and beyond for the shipped model, docs/training.md).
    for (const auto& [layer, docs] : j["rounds"][0]["selected"].items()) {
      bool found = false;
      for (const auto& d : docs) found |= d[0].get<int64_t>() == gold;
      routed += found;
    }
    // Citations are documents the transcript names, with their own text.
    for (const auto& c : j["citations"]) {
      EXPECT_TRUE(c["doc_id"].is_number_integer());
      EXPECT_FALSE(c["snippet"].get<std::string>().empty());
    }
    const auto& ids = j["rounds"][0]["generated_doc_ids"];
    if (std::find(ids.begin(), ids.end(), json(gold)) != ids.end()) {
      ++right_id;
      // Once the needle's text is injected, the model copies the answer from it.
      if (j["answer"] == q["answer"]) ++correct;
      bool cited = false;
      for (const auto& c : j["citations"]) cited |= c["doc_id"] == gold;
      EXPECT_TRUE(cited) << j.dump();
    }
   }
   fs::remove_all(bank);
  }
  const int layers = 2;  // routing layers of the shipped model
  EXPECT_EQ(routed, layers * questions);
  EXPECT_EQ(correct, right_id) << "answers after injecting the right document";
  // The bundled corpora are fixed (seeded); the shipped model answers NIAH at
  // 1.00 (docs/training.md). A regression that breaks answering must fail here,
  // not pass with 0 of 3 as long as wrong ids give no answers.
  EXPECT_GE(correct, kMinNiahCorrect) << "of " << questions << " bundled NIAH questions";
  std::printf("embedded model: %d/%d generated the needle's id, %d answered\n", right_id, questions, correct);
}

TEST_F(AskEndToEnd, TwoHopsRetrieveTheFirstHopAndAnswer) {
  int correct = 0, questions = 0;
  for (const std::string corpus : {"hop2-1", "hop2-2"}) {
    const fs::path bank = make_bank(corpus);
    for (const auto& q : read_jsonl(fs::path(MSA_SOURCE_DIR) / "data" / "demo" / corpus / "questions.jsonl")) {
      ++questions;
      const json j = ask(bank, q["question"]);
      ASSERT_GE(j["rounds"].size(), 1u);
      EXPECT_TRUE(selected_in_round(j, 0).count(q["gold_doc_ids"][0].get<int64_t>())) << j.dump();
      EXPECT_LE(j["rounds"].size(), 8u);  // the rounds cap holds
      correct += j["answer"] == q["answer"];
    }
    fs::remove_all(bank);
  }
  // Two hops need the second round: the answer is the check that it happened.
  EXPECT_GE(correct, kMinHop2Correct) << "of " << questions << " bundled two-hop questions";
  std::printf("embedded model: %d/%d two-hop questions answered\n", correct, questions);
}

TEST_F(AskEndToEnd, ExitStatusSaysNoAnswerAndEmptyQuestionsAreRefused) {
  const fs::path bank = make_bank("niah-1");
  const auto qs = read_jsonl(fs::path(MSA_SOURCE_DIR) / "data" / "demo" / "niah-1" / "questions.jsonl");
  const std::string base = std::string(MSA_BINARY) + " ask --bank " + bank.string() + " --model " + model_.string();
  std::string out;
  // One generated token cannot hold an answer: no answer, exit 3, said so.
  int rc = run(base + " --max-tokens 1 " + shell_quote(qs[0]["question"]), &out);
  EXPECT_EQ(rc, 3) << out;
  EXPECT_NE(out.find("no answer"), std::string::npos) << out;
  rc = run(base + " --json --max-tokens 1 " + shell_quote(qs[0]["question"]), &out);
  EXPECT_EQ(rc, 3) << out;
  // An empty question is an error (exit 1), as over HTTP.
  for (const std::string q : {"", "   "}) {
    rc = run(base + " " + shell_quote(q), &out);
    EXPECT_EQ(rc, 1) << out;
    EXPECT_NE(out.find("empty"), std::string::npos) << out;
  }
  fs::remove_all(bank);
}

// msa bank add over a directory of real files: long files become passages
// (one output line per file with all its ids), files that carry nothing are
// reported one by one, nothing to add is an error; delete by external id
// removes every passage.
TEST_F(AskEndToEnd, BankAddSplitsLongFilesAndReportsEmptyOnes) {
  const fs::path root = fs::temp_directory_path() / ("msa_bank_add_files_" + std::to_string(::getpid()));
  fs::remove_all(root);
  fs::create_directories(root / "empty-only");
  fs::create_directories(root / "docs");
  std::ofstream(root / "empty-only" / "a.md") << "";
  std::ofstream(root / "empty-only" / "b.txt") << "\n \n";
  std::string long_text;
  for (int i = 0; i < 30; ++i) long_text += "the magic number for item " + std::to_string(i) + " is " + std::to_string(7000 + i) + ". ";
  std::ofstream(root / "docs" / "long.md") << long_text;
  std::ofstream(root / "docs" / "short.txt") << "a short note.";
  std::ofstream(root / "docs" / "empty.md") << "";
  const std::string bank = (root / "bank").string();
  const std::string msa = MSA_BINARY;
  std::string out;
  ASSERT_EQ(run(msa + " bank create " + bank, &out), 0) << out;
  int rc = run(msa + " bank add -q " + bank + " " + (root / "empty-only").string(), &out);
  EXPECT_EQ(rc, 1) << out;
  EXPECT_NE(out.find("skipped " + (root / "empty-only" / "a.md").string() + ": empty"), std::string::npos) << out;
  EXPECT_NE(out.find("b.txt: whitespace only"), std::string::npos) << out;
  EXPECT_NE(out.find("nothing to add"), std::string::npos) << out;
  rc = run(msa + " bank add -q " + bank + " " + (root / "docs").string(), &out);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("empty.md: empty"), std::string::npos) << out;
  // Lines: the skip report, then one line per file in path order: long.md (several ids), short.txt (one).
  std::vector<std::vector<int64_t>> lines;
  std::istringstream is(out);
  for (std::string line; std::getline(is, line);) {
    if (line.empty() || !std::isdigit(static_cast<unsigned char>(line[0]))) continue;
    std::istringstream ls(line);
    lines.emplace_back();
    for (int64_t id; ls >> id;) lines.back().push_back(id);
  }
  ASSERT_EQ(lines.size(), 2u) << out;
  EXPECT_GT(lines[0].size(), 1u) << out;
  EXPECT_EQ(lines[1].size(), 1u) << out;
  ASSERT_EQ(run(msa + " bank list --json " + bank, &out), 0);
  const json list = json::parse(out);
  EXPECT_EQ(list.size(), lines[0].size() + 1);
  for (const auto& d : list)
    if (d["external_id"].get<std::string>().rfind("long.md#p", 0) == 0) {
      EXPECT_EQ(d["metadata"]["passage"]["source"], "long.md");
      EXPECT_EQ(d["metadata"]["path"], "long.md");
    }
  rc = run(msa + " bank delete " + bank + " --external-id long.md", &out);
  EXPECT_EQ(rc, 0) << out;
  ASSERT_EQ(run(msa + " bank list --json " + bank, &out), 0);
  EXPECT_EQ(json::parse(out).size(), 1u);
  fs::remove_all(root);
}

TEST_F(AskEndToEnd, OtherNamespacesSeeNothing) {
  const fs::path bank = make_bank("niah-1");
  const auto qs = read_jsonl(fs::path(MSA_SOURCE_DIR) / "data" / "demo" / "niah-1" / "questions.jsonl");
  const json j = ask(bank, qs[0]["question"], "--namespace elsewhere");
  for (size_t r = 0; r < j["rounds"].size(); ++r) EXPECT_TRUE(selected_in_round(j, r).empty());
  EXPECT_TRUE(j["citations"].empty());
  fs::remove_all(bank);
}

}  // namespace
