// Synthetic task generators (src/data): determinism, sizes, evidence
// consistency, id rules, word-list disjointness, JSONL round trip and the
// gen-data CLI.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <string>

#include "core/error.h"
#include "data/task_io.h"
#include "data/tasks.h"
#include "data/word_lists.h"

namespace msa::data {
namespace {

const Task kAllTasks[] = {Task::kNiah,           Task::kNiahMultiKey, Task::kNiahMultiValue,
                          Task::kNiahMultiQuery, Task::kHop2,         Task::kHop3};

bool contains(const std::string& hay, const std::string& needle) { return hay.find(needle) != std::string::npos; }

// The key words "adj noun" of a NIAH question (the two words after "for").
std::vector<std::string> question_keys(const std::string& q) {
  std::vector<std::string> keys;
  const auto& adjs = key_adjectives();
  const auto& nouns = key_nouns();
  for (auto a : adjs)
    for (auto n : nouns) {
      std::string k = " " + std::string(a) + " " + std::string(n);
      size_t at = q.find(k);
      if (at != std::string::npos) {
        char after = q[at + k.size()];
        if (after == ' ' || after == '?') keys.push_back(k.substr(1));
      }
    }
  return keys;
}

TEST(Tasks, WordListsAreDisjointAndLowercase) {
  std::set<std::string> seen;
  for (const auto* list : {&filler_words(), &key_adjectives(), &key_nouns(), &city_names(), &person_names(),
                           &template_words()})
    for (std::string_view w : *list) {
      EXPECT_TRUE(seen.insert(std::string(w)).second) << "duplicate word " << w;
      for (char c : w) EXPECT_TRUE(c >= 'a' && c <= 'z') << w;
    }
  EXPECT_GE(filler_words().size(), 300u);
  EXPECT_GE(key_adjectives().size(), 64u);
  EXPECT_GE(key_nouns().size(), 64u);
}

TEST(Tasks, ParseAndNameTasks) {
  for (Task t : kAllTasks) EXPECT_EQ(parse_task(task_name(t)), t);
  EXPECT_THROW(parse_task("niah-single"), Error);
}

TEST(Tasks, CountTextTokens) {
  EXPECT_EQ(count_text_tokens("the magic number for red apple is 4821."), 7 + 2 + 1);
  EXPECT_EQ(count_text_tokens("1 12 123 1234567"), 1 + 1 + 1 + 3);
  EXPECT_EQ(count_text_tokens("  what is it?"), 4);
  EXPECT_EQ(count_text_tokens("[12]. ab"), 5);
  EXPECT_EQ(count_text_tokens(""), 0);
  EXPECT_EQ(memory_document_tokens(7, "a b."), 3 + 2 + 7);
  EXPECT_EQ(memory_document_tokens(123, "a b."), 3 + 2 + 7);
  EXPECT_EQ(memory_document_tokens(1234, "a b."), 3 + 4 + 7);
}

TEST(Tasks, TokenCountNotation) {
  EXPECT_EQ(parse_token_count("16384"), 16384);
  EXPECT_EQ(parse_token_count("64k"), 65536);
  EXPECT_EQ(parse_token_count("1M"), 1048576);
  EXPECT_THROW(parse_token_count("1.5m"), Error);
  EXPECT_THROW(parse_token_count("k"), Error);
  EXPECT_THROW(parse_token_count("0"), Error);
  EXPECT_EQ(format_token_count(65536), "64k");
  EXPECT_EQ(format_token_count(1048576), "1m");
  EXPECT_EQ(format_token_count(1000), "1000");
}

TEST(Tasks, DeterministicForASeed) {
  for (Task t : kAllTasks) {
    TaskOptions o{t, 8192, 10, 42};
    TaskSet a = generate_task(o), b = generate_task(o);
    ASSERT_EQ(a.docs.size(), b.docs.size());
    for (size_t i = 0; i < a.docs.size(); ++i) EXPECT_EQ(a.docs[i].text, b.docs[i].text);
    ASSERT_EQ(a.questions.size(), 10u);
    for (size_t i = 0; i < a.questions.size(); ++i) {
      EXPECT_EQ(a.questions[i].question, b.questions[i].question);
      EXPECT_EQ(a.questions[i].answer, b.questions[i].answer);
      EXPECT_EQ(a.questions[i].gold_doc_ids, b.questions[i].gold_doc_ids);
    }
    o.seed = 43;
    TaskSet c = generate_task(o);
    EXPECT_NE(a.docs[0].text, c.docs[0].text);
  }
  // Pinned output: a change of the generator, the word lists or the standard
  // library's mt19937_64 shows up here (retrain the tokenizer/model if intended).
  TaskSet s = generate_task(TaskOptions{Task::kNiah, 1024, 1, 0});
  EXPECT_EQ(s.docs.size(), 26u);  // digit groups count as one token each
  EXPECT_EQ(s.questions[0].question, "what is the magic number for brown camel?");
  EXPECT_EQ(s.questions[0].answer, "5072");
  EXPECT_EQ(s.questions[0].gold_doc_ids, std::vector<int64_t>{19});
  EXPECT_EQ(s.docs[0].text.substr(0, 40), "repeat triangle cook seat stream. world ");
}

TEST(Tasks, SizeWithinOneDocumentAndHaystackPrefix) {
  for (int64_t size : {2048, 65536, 262144}) {
    TaskSet s = generate_task(TaskOptions{Task::kNiah, size, 20, 5});
    int64_t total = 0, last = 0;
    for (size_t i = 0; i < s.docs.size(); ++i) {
      EXPECT_EQ(s.docs[i].id, int64_t(i));
      last = memory_document_tokens(s.docs[i].id, s.docs[i].text);
      total += last;
    }
    // Needle documents replace filler ones, so allow a few tokens per needle on top of one document.
    EXPECT_NEAR(double(total), double(size), 60.0 + 10.0 * double(s.evidence_doc_ids.size())) << size;
    double mean = double(total) / double(s.docs.size());
    EXPECT_GT(mean, 30.0);
    EXPECT_LT(mean, 60.0);
  }
  // Smaller haystacks are prefixes of larger ones; generate_task only overwrites evidence slots.
  auto big = generate_haystack(9, 100000), small = generate_haystack(9, 20000);
  ASSERT_LT(small.size(), big.size());
  for (size_t i = 0; i < small.size(); ++i) ASSERT_EQ(small[i].text, big[i].text);
  TaskSet s = generate_task(TaskOptions{Task::kHop3, 20000, 5, 9});
  std::set<int64_t> ev(s.evidence_doc_ids.begin(), s.evidence_doc_ids.end());
  ASSERT_EQ(ev.size(), 15u);
  for (size_t i = 0; i < s.docs.size(); ++i)
    if (!ev.count(int64_t(i))) ASSERT_EQ(s.docs[i].text, small[i].text);
    else ASSERT_NE(s.docs[i].text, small[i].text);
}

// Checks the gold documents of every question against the task's formats.
void check_evidence(Task t, const TaskSet& s, const std::function<const std::string&(int64_t)>& text_of) {
  std::set<int64_t> all_gold;
  for (const auto& q : s.questions) {
    ASSERT_FALSE(q.gold_doc_ids.empty());
    for (int64_t g : q.gold_doc_ids) {
      EXPECT_TRUE(all_gold.insert(g).second) << "document " << g << " is evidence of two questions";
      EXPECT_TRUE(std::binary_search(s.evidence_doc_ids.begin(), s.evidence_doc_ids.end(), g));
    }
    auto keys = question_keys(q.question);
    switch (t) {
      case Task::kKb:  // kb_test.cc
        ASSERT_EQ(q.gold_doc_ids.size(), 1u);
        EXPECT_TRUE(contains(text_of(q.gold_doc_ids[0]), " " + q.answer + "."));
        break;
      case Task::kNiah:
      case Task::kNiahMultiKey:
        ASSERT_EQ(keys.size(), 1u) << q.question;
        ASSERT_EQ(q.gold_doc_ids.size(), 1u);
        EXPECT_TRUE(contains(text_of(q.gold_doc_ids[0]),
                             "the magic number for " + keys[0] + " is " + q.answer + "."));
        EXPECT_EQ(q.answer.size(), 4u);
        break;
      case Task::kNiahMultiValue: {
        ASSERT_EQ(keys.size(), 1u);
        ASSERT_GE(q.gold_doc_ids.size(), 2u);
        ASSERT_LE(q.gold_doc_ids.size(), 4u);
        EXPECT_TRUE(std::is_sorted(q.gold_doc_ids.begin(), q.gold_doc_ids.end()));
        std::string expect;
        for (int64_t g : q.gold_doc_ids) {
          const std::string& txt = text_of(g);
          std::string marker = "the magic number for " + keys[0] + " is ";
          size_t at = txt.find(marker);
          ASSERT_NE(at, std::string::npos);
          if (!expect.empty()) expect += ", ";
          expect += txt.substr(at + marker.size(), 4);
        }
        EXPECT_EQ(q.answer, expect);
        break;
      }
      case Task::kNiahMultiQuery: {
        ASSERT_EQ(keys.size(), 2u) << q.question;
        // question_keys returns keys in list order; match each gold doc to its key.
        ASSERT_EQ(q.gold_doc_ids.size(), 2u);
        std::string a = q.answer.substr(0, 4), b = q.answer.substr(6, 4);
        ASSERT_EQ(q.answer, a + ", " + b);
        size_t first_key_pos = q.question.find(keys[0]), second_key_pos = q.question.find(keys[1]);
        std::string k0 = first_key_pos < second_key_pos ? keys[0] : keys[1];
        std::string k1 = first_key_pos < second_key_pos ? keys[1] : keys[0];
        EXPECT_TRUE(contains(text_of(q.gold_doc_ids[0]), "the magic number for " + k0 + " is " + a + "."));
        EXPECT_TRUE(contains(text_of(q.gold_doc_ids[1]), "the magic number for " + k1 + " is " + b + "."));
        break;
      }
      case Task::kHop2:
      case Task::kHop3: {
        ASSERT_EQ(keys.size(), 1u) << q.question;
        size_t hops = t == Task::kHop2 ? 2 : 3;
        ASSERT_EQ(q.gold_doc_ids.size(), hops);
        // Follow the chain through the documents' text.
        std::string entity;
        const std::string& first = text_of(q.gold_doc_ids[0]);
        std::string m = t == Task::kHop2 ? "the " + keys[0] + " lives in " : "the " + keys[0] + " works for ";
        size_t at = first.find(m);
        ASSERT_NE(at, std::string::npos) << first;
        entity = first.substr(at + m.size(), first.find('.', at) - at - m.size());
        if (t == Task::kHop3) {
          const std::string& mid = text_of(q.gold_doc_ids[1]);
          std::string m2 = entity + " lives in ";
          at = mid.find(m2);
          ASSERT_NE(at, std::string::npos) << mid;
          entity = mid.substr(at + m2.size(), mid.find('.', at) - at - m2.size());
        }
        EXPECT_TRUE(contains(text_of(q.gold_doc_ids.back()),
                             "the magic number of " + entity + " is " + q.answer + "."));
        break;
      }
    }
  }
}

TEST(Tasks, GoldDocumentsHoldTheEvidence) {
  for (Task t : kAllTasks) {
    SCOPED_TRACE(std::string(task_name(t)));
    TaskSet s = generate_task(TaskOptions{t, 32768, 25, 3});
    check_evidence(t, s, [&](int64_t id) -> const std::string& { return s.docs[size_t(id)].text; });
    if (t == Task::kNiahMultiKey) {
      EXPECT_EQ(s.evidence_doc_ids.size(), 100u);  // 1 gold + 3 distractors each
    }
    // Filler never contains a template sentence.
    std::set<int64_t> ev(s.evidence_doc_ids.begin(), s.evidence_doc_ids.end());
    for (const auto& d : s.docs) {
      if (!ev.count(d.id)) {
        ASSERT_FALSE(contains(d.text, "magic")) << d.text;
      }
    }
  }
}

TEST(Tasks, MultiKeyDistractorsShareAWordWithTheGoldKey) {
  TaskSet s = generate_task(TaskOptions{Task::kNiahMultiKey, 32768, 10, 1});
  std::set<int64_t> gold;
  for (const auto& q : s.questions) gold.insert(q.gold_doc_ids[0]);
  int sharing = 0;
  for (const auto& q : s.questions) {
    std::string key = question_keys(q.question)[0];
    std::string adj = key.substr(0, key.find(' ')), noun = key.substr(key.find(' ') + 1);
    for (int64_t e : s.evidence_doc_ids) {
      if (gold.count(e)) continue;
      const std::string& txt = s.docs[size_t(e)].text;
      EXPECT_FALSE(contains(txt, "for " + key + " is")) << "a distractor repeats the gold key";
      if (contains(txt, "for " + adj + " ") || contains(txt, " " + noun + " is")) ++sharing;
    }
  }
  EXPECT_GE(sharing, 30);
}

TEST(Tasks, TrainingMemoryIdsAndEvidence) {
  std::mt19937_64 rng(11);
  std::set<size_t> lengths_seen;
  for (Task t : kAllTasks) {
    for (int rep = 0; rep < 6; ++rep) {
      SCOPED_TRACE(std::string(task_name(t)) + " rep " + std::to_string(rep));
      TaskSet s = generate_training_memory(t, 32, 3, 5, rng);
      ASSERT_EQ(s.docs.size(), 32u);
      ASSERT_EQ(s.questions.size(), 3u);
      std::map<int64_t, size_t> slot_of;
      for (size_t i = 0; i < s.docs.size(); ++i) {
        ASSERT_TRUE(slot_of.emplace(s.docs[i].id, i).second) << "duplicate id";
        ASSERT_GE(s.docs[i].id, 0);
        ASSERT_LT(s.docs[i].id, 100000);
        lengths_seen.insert(std::to_string(s.docs[i].id).size());
        ASSERT_FALSE(s.docs[i].text.empty());
      }
      check_evidence(t, s, [&](int64_t id) -> const std::string& { return s.docs[slot_of.at(id)].text; });
    }
  }
  EXPECT_EQ(lengths_seen.size(), 5u);
  // Confusable needles are common: on average many needles per memory.
  std::mt19937_64 r2(5);
  size_t needles = 0;
  for (int i = 0; i < 30; ++i) needles += generate_training_memory(Task::kNiah, 64, 2, 4, r2).evidence_doc_ids.size();
  EXPECT_GT(needles / 30, 16u);
  // Same rng state, same memory.
  std::mt19937_64 a(3), b(3);
  TaskSet x = generate_training_memory(Task::kHop2, 16, 2, 3, a), y = generate_training_memory(Task::kHop2, 16, 2, 3, b);
  for (size_t i = 0; i < x.docs.size(); ++i) {
    EXPECT_EQ(x.docs[i].id, y.docs[i].id);
    EXPECT_EQ(x.docs[i].text, y.docs[i].text);
  }
  EXPECT_THROW(generate_training_memory(Task::kNiah, 20, 1, 1, rng), Error);  // 20 ids of 1 digit
  EXPECT_THROW(generate_training_memory(Task::kHop3, 4, 2, 3, rng), Error);   // 6 evidence docs > 4
}

TEST(Tasks, EvidenceSlotLimitKeepsGoldIdsShort) {
  TaskOptions o{Task::kNiah, 65536, 20, 4};
  o.evidence_slot_limit = 100;
  TaskSet s = generate_task(o);
  for (int64_t e : s.evidence_doc_ids) EXPECT_LT(e, 100);
  check_evidence(Task::kNiah, s, [&](int64_t id) -> const std::string& { return s.docs[size_t(id)].text; });
  // Same questions as without the limit; only the slots differ.
  TaskSet free = generate_task(TaskOptions{Task::kNiah, 65536, 20, 4});
  EXPECT_EQ(free.questions[3].question, s.questions[3].question);
  o.evidence_slot_limit = 10;  // 20 needles do not fit in 10 slots
  EXPECT_THROW(generate_task(o), Error);
}

TEST(Tasks, TooSmallMemoryIsAnError) {
  EXPECT_THROW(generate_task(TaskOptions{Task::kNiah, 100, 50, 0}), Error);
  EXPECT_THROW(generate_task(TaskOptions{Task::kHop2, 1 << 22, 500, 0}), Error);  // more chains than cities
}

TEST(Tasks, JsonlRoundTripAndCli) {
  auto dir = std::filesystem::temp_directory_path() / ("msa_tasks_test_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  TaskSet s = generate_task(TaskOptions{Task::kHop2, 4096, 5, 7});
  write_task_set(s, dir / "api");
  TaskSet r = read_task_set(dir / "api");
  ASSERT_EQ(r.docs.size(), s.docs.size());
  for (size_t i = 0; i < s.docs.size(); ++i) EXPECT_EQ(r.docs[i].text, s.docs[i].text);
  ASSERT_EQ(r.questions.size(), 5u);
  EXPECT_EQ(r.questions[2].gold_doc_ids, s.questions[2].gold_doc_ids);

  std::string cmd = std::string(MSA_BINARY) + " gen-data --task niah-multivalue --memory-tokens 8k --questions 7 --seed 3 --out " +
                    (dir / "cli").string() + " > " + (dir / "out.txt").string();
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  TaskSet c = read_task_set(dir / "cli"), g = generate_task(TaskOptions{Task::kNiahMultiValue, 8192, 7, 3});
  ASSERT_EQ(c.docs.size(), g.docs.size());
  for (size_t i = 0; i < c.docs.size(); ++i) EXPECT_EQ(c.docs[i].id, int64_t(i));
  ASSERT_EQ(c.questions.size(), 7u);
  for (size_t i = 0; i < 7; ++i) EXPECT_EQ(c.questions[i].answer, g.questions[i].answer);
  std::ifstream summary(dir / "out.txt");
  std::string line;
  std::getline(summary, line);
  EXPECT_NE(line.find("7 questions"), std::string::npos) << line;
  for (auto& e : std::filesystem::directory_iterator(dir / "cli"))
    EXPECT_EQ(e.path().extension(), ".jsonl") << "temporary file left behind: " << e.path();
  {
    std::ofstream broken(dir / "api" / "questions.jsonl", std::ios::app);
    broken << "{\"question\": 5}\n";
  }
  try {
    read_task_set(dir / "api");
    ADD_FAILURE() << "a bad line was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("questions.jsonl: line 6"), std::string::npos) << e.what();
  }
  std::string bad = std::string(MSA_BINARY) + " gen-data --task nope --out " + (dir / "x").string() + " 2>/dev/null";
  EXPECT_NE(std::system(bad.c_str()), 0);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace msa::data
