// The tiny model's BPE tokenizer (src/data/bpe_trainer.*, msa train-tokenizer):
// the committed models/msa-tiny/tokenizer.json loads with our Qwen3 loader, every
// generator word and digit is one token, special tokens are single ids, random
// generated text round-trips, and training is deterministic.
#include <gtest/gtest.h>

#include <cstdlib>
#include <deque>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>

#include "data/bpe_trainer.h"
#include "data/tasks.h"
#include "model/prompt_format.h"
#include "model/tokenizer.h"
#include "model/tokenizer_json.h"
#include "model/tokenizer_pretokenizer.h"

namespace msa::data {
namespace {

const std::string kCommitted = std::string(MSA_SOURCE_DIR) + "/models/msa-tiny/tokenizer.json";

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string train_in_process(int64_t vocab, uint64_t seed) {
  TinyTokenizerOptions o;
  o.vocab_size = vocab;
  o.seed = seed;
  o.question_head = model::kQuestionHead;
  o.question_tail = model::kQuestionTail;
  o.restate_text = std::string(model::kRestatePrefix.substr(model::kImStart.size()));
  o.answer_marker = model::kAnswerMarker;
  o.end_of_retrieve = model::kEndOfRetrieve;
  std::string pre_json = pre_tokenizer_json();
  model::JsonValue v = model::parse_json(pre_json, "pre");
  model::PreTokenizer pre(&v);
  return train_tiny_tokenizer(o, [&](std::string_view text, std::vector<std::string>& pieces) {
    std::vector<std::string_view> views;
    std::deque<std::string> arena;
    pre.split(text, views, arena);
    for (auto p : views) pieces.emplace_back(p);
  });
}

TEST(BpeTrainer, ByteLevelAlphabet) {
  EXPECT_EQ(byte_level_char(' '), "\xC4\xA0");  // U+0120 'Ġ'
  EXPECT_EQ(byte_level_char('\n'), "\xC4\x8A");  // U+010A 'Ċ'
  EXPECT_EQ(byte_level_char('a'), "a");
  EXPECT_EQ(byte_level_order().size(), 256u);
  EXPECT_EQ(byte_level_order()[0], '!');
}

TEST(BpeTrainer, MergesMostFrequentPairWithDeterministicTies) {
  std::map<std::string, int64_t> counts = {{"abab", 3}, {"cd", 3}, {"ab", 1}};
  BpeModelData m = train_bpe(counts, 256 + 3);
  ASSERT_EQ(m.merges.size(), 3u);
  EXPECT_EQ(m.merges[0], std::make_pair(std::string("a"), std::string("b")));  // 7 occurrences
  EXPECT_EQ(m.merges[1], std::make_pair(std::string("ab"), std::string("ab"))); // 3, tie with c+d: "ab" < "c"
  EXPECT_EQ(m.merges[2], std::make_pair(std::string("c"), std::string("d")));
  EXPECT_EQ(m.vocab.back(), "cd");
  // Nothing left to merge: training stops below max_vocab.
  EXPECT_EQ(train_bpe(counts, 10000).merges.size(), 3u);
}

TEST(BpeTrainer, CommittedTokenizerLoadsAndCoversEveryWord) {
  ASSERT_TRUE(std::filesystem::exists(kCommitted)) << kCommitted;
  model::Tokenizer tok = model::Tokenizer::load(kCommitted);
  EXPECT_LE(tok.vocab_size(), 3072u);
  for (const std::string& w : tiny_tokenizer_required_tokens())
    EXPECT_EQ(tok.encode(w).size(), 1u) << "\"" << w << "\" is not one token";
  // Every digit string of 1-3 digits is one token; longer runs split left to right.
  for (int n = 1; n <= 3; ++n)
    for (int v = 0; v < 1000; v += (n == 3 ? 7 : 1)) {
      std::string s = std::to_string(v);
      if (int(s.size()) > n) continue;
      s = std::string(size_t(n) - s.size(), '0') + s;
      EXPECT_EQ(tok.encode(s).size(), 1u) << s;
    }
  for (int v : {0, 5, 99, 100, 121, 212, 999}) EXPECT_EQ(tok.encode("[" + std::to_string(v) + "]").size(), 3u) << v;
  {
    auto ids = tok.encode("[1234]");
    ASSERT_EQ(ids.size(), 4u);
    EXPECT_EQ(tok.decode(std::vector<int32_t>{ids[1]}), "123");
    EXPECT_EQ(tok.decode(std::vector<int32_t>{ids[2]}), "4");
    EXPECT_EQ(tok.encode("1212121").size(), 3u);
    EXPECT_EQ(tok.decode(tok.encode("[22274]. x")), "[22274]. x");
  }
  for (std::string_view s : tiny_special_tokens()) {
    auto ids = tok.encode(s, true);
    ASSERT_EQ(ids.size(), 1u) << s;
    EXPECT_TRUE(tok.is_special(ids[0]));
    EXPECT_GT(tok.encode(s, false).size(), 1u);  // as plain text it is not the special token
  }
  // "<End-of-Retrieve>" is ordinary text (spec-faithful), not an added token.
  EXPECT_EQ(tok.token_to_id("<End-of-Retrieve>"), -1);
  EXPECT_GT(tok.encode(model::kEndOfRetrieve).size(), 1u);
  // The template split of the prompt format works with this tokenizer.
  model::TemplateSplit split = model::split_prompt_template(tok);
  EXPECT_EQ(split.prefix_text, "<|im_start|>user\n");
  EXPECT_FALSE(split.prefix_ids.empty());
}

TEST(BpeTrainer, GeneratedTextRoundTripsAndDocsAreShort) {
  model::Tokenizer tok = model::Tokenizer::load(kCommitted);
  std::mt19937_64 rng(77);
  size_t total = 0, docs = 0;
  for (Task t : {Task::kNiah, Task::kNiahMultiValue, Task::kHop3}) {
    TaskSet s = generate_training_memory(t, 48, 3, 5, rng);
    for (const auto& d : s.docs) {
      std::string f = model::format_memory_document(d.id, d.text);
      auto ids = tok.encode(f);
      EXPECT_EQ(tok.decode(ids), f);
      // Generator words are single tokens, so the BPE count is close to the text-token count.
      EXPECT_LE(int64_t(ids.size()), memory_document_tokens(d.id, d.text) + 4) << f;
      total += ids.size();
      ++docs;
    }
    for (const auto& q : s.questions) {
      std::string row = model::routed_question_text(q.question);
      EXPECT_EQ(tok.decode(tok.encode(row)), row);
    }
  }
  double mean = double(total) / double(docs);
  EXPECT_GT(mean, 30.0);
  EXPECT_LT(mean, 60.0);
}

TEST(BpeTrainer, DeterministicAndCliWritesTheSameFile) {
  std::string a = train_in_process(3072, 0), b = train_in_process(3072, 0);
  EXPECT_EQ(a, b);
  auto dir = std::filesystem::temp_directory_path() / ("msa_bpe_test_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::string out = (dir / "tok.json").string();
  std::string cmd = std::string(MSA_BINARY) + " train-tokenizer --vocab-size 3072 --seed 0 --out " + out + " > /dev/null";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  EXPECT_EQ(read_file(out), a);
  // Too small a vocabulary is a clear error, not a silently broken tokenizer.
  std::string bad = std::string(MSA_BINARY) + " train-tokenizer --vocab-size 600 --out " + out + ".bad 2>/dev/null";
  EXPECT_NE(std::system(bad.c_str()), 0);
  EXPECT_FALSE(std::filesystem::exists(out + ".bad"));
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace msa::data
