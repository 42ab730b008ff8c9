// The knowledge-base task (data/kb.h): every document a fact sheet, keys
// distinct and confusable, questions over the whole memory, seeded.
#include "data/kb.h"

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <set>
#include <sstream>

#include "core/error.h"
#include "data/tasks.h"

namespace msa::data {
namespace {

std::vector<std::string> words(const std::string& s) {
  std::istringstream in(s);
  std::vector<std::string> out;
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

TEST(KbTask, EveryDocumentIsAFactSheetWithADistinctKey) {
  const std::vector<KbEntity> ents = generate_kb_entities(7, 16384);
  ASSERT_GT(ents.size(), 300u);
  std::set<std::string> keys;
  int two = 0, three = 0;
  for (const auto& e : ents) {
    EXPECT_TRUE(keys.insert(e.key).second) << "duplicate key " << e.key;
    const size_t n = words(e.key).size();
    (n == 2 ? two : three) += 1;
    EXPECT_TRUE(n == 2 || n == 3) << e.key;
    const std::string text = kb_document_text(e);
    EXPECT_NE(text.find("the magic number for the " + e.key + " is " + e.number + "."), std::string::npos) << text;
    EXPECT_NE(text.find("the " + e.key + " lives in " + e.city + "."), std::string::npos) << text;
    EXPECT_NE(text.find("the " + e.key + " works for " + e.person + "."), std::string::npos) << text;
  }
  EXPECT_GT(two, 0);
  EXPECT_GT(three, two);
  // Confusable: most keys share a key word with some other key.
  std::map<std::string, int> word_count;
  for (const auto& k : keys)
    for (const auto& w : words(k)) word_count[w]++;
  int shared = 0;
  for (const auto& k : keys) {
    bool any = false;
    for (const auto& w : words(k)) any |= word_count[w] > 1;
    shared += any;
  }
  EXPECT_GT(double(shared) / double(keys.size()), 0.95);
}

TEST(KbTask, SeededPrefixStreamAndQuestionsOverTheWholeMemory) {
  const TaskSet a = generate_task(TaskOptions{Task::kKb, 16384, 50, 3});
  const TaskSet b = generate_task(TaskOptions{Task::kKb, 16384, 50, 3});
  const TaskSet big = generate_task(TaskOptions{Task::kKb, 65536, 50, 3});
  ASSERT_EQ(a.docs.size(), b.docs.size());
  ASSERT_LT(a.docs.size(), big.docs.size());
  for (size_t i = 0; i < a.docs.size(); ++i) {
    EXPECT_EQ(a.docs[i].text, b.docs[i].text);
    EXPECT_EQ(a.docs[i].text, big.docs[i].text) << "the smaller memory is a prefix of the larger";
    EXPECT_EQ(a.docs[i].id, int64_t(i));
  }
  EXPECT_EQ(generate_memory_stream(Task::kKb, 3, 16384).size(), a.docs.size());
  ASSERT_EQ(a.questions.size(), 50u);
  std::set<int64_t> gold;
  int64_t max_gold = 0;
  for (size_t i = 0; i < a.questions.size(); ++i) {
    const Question& q = a.questions[i];
    EXPECT_EQ(q.question, b.questions[i].question);
    ASSERT_EQ(q.gold_doc_ids.size(), 1u);
    const int64_t g = q.gold_doc_ids[0];
    EXPECT_TRUE(gold.insert(g).second) << "questions are on distinct entities";
    max_gold = std::max(max_gold, g);
    EXPECT_NE(a.docs[size_t(g)].text.find(" " + q.answer + "."), std::string::npos) << q.question;
  }
  EXPECT_GT(max_gold, int64_t(a.docs.size()) / 2) << "gold documents are drawn over the whole memory";
  EXPECT_EQ(std::vector<int64_t>(gold.begin(), gold.end()), a.evidence_doc_ids);
  EXPECT_THROW(generate_task(TaskOptions{Task::kKb, 16384, 5000, 3}), Error);
  EXPECT_THROW(generate_task(TaskOptions{Task::kKb, 16384, 5, 3, 100}), Error);
  // Pinned output: a change of the generator shows up here.
  EXPECT_EQ(a.questions[0].question, "what is the city where the strange whale lives?");
  EXPECT_EQ(a.questions[0].answer, "prague");
  EXPECT_EQ(a.docs[0].text,
            "the magic number for the gray bear is 5940. the gray bear works for vera. the gray bear lives in tokyo.");
}

TEST(KbTask, TrainingMemoriesAreHardNegatives) {
  std::mt19937_64 rng(11);
  int memories_with_filler = 0, total_shared = 0, total_docs = 0;
  for (int m = 0; m < 40; ++m) {
    const TaskSet s = generate_training_memory(Task::kKb, 24, 2, 4, rng);
    ASSERT_EQ(s.docs.size(), 24u);
    ASSERT_EQ(s.questions.size(), 2u);
    std::map<int64_t, std::string> text;
    for (const auto& d : s.docs) text[d.id] = d.text;
    bool filler = false;
    std::map<std::string, int> word_count;
    std::vector<std::string> firsts;
    for (const auto& d : s.docs) {
      if (d.text.find(" lives in ") == std::string::npos) {
        filler = true;
        continue;
      }
      firsts.push_back(d.text);
    }
    memories_with_filler += filler;
    for (const auto& q : s.questions) {
      ASSERT_EQ(q.gold_doc_ids.size(), 1u);
      const std::string& t = text.at(q.gold_doc_ids[0]);
      EXPECT_NE(t.find(" lives in "), std::string::npos) << "gold is a fact sheet";
      EXPECT_NE(t.find(" " + q.answer + "."), std::string::npos);
    }
    // Key words: the words after "the magic number for the" up to " is".
    std::vector<std::vector<std::string>> keys;
    for (const auto& t : firsts) {
      const std::string pre = "the magic number for the ";
      const size_t a = t.find(pre) + pre.size(), b = t.find(" is ", a);
      keys.push_back(words(t.substr(a, b - a)));
      for (const auto& w : keys.back()) word_count[w]++;
    }
    for (const auto& k : keys) {
      bool any = false;
      for (const auto& w : k) any |= word_count[w] > 1;
      total_shared += any;
      ++total_docs;
    }
  }
  EXPECT_GT(memories_with_filler, 2);
  EXPECT_LT(memories_with_filler, 25);
  EXPECT_GT(double(total_shared) / total_docs, 0.8);
}

}  // namespace
}  // namespace msa::data
