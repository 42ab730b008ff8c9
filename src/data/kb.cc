// Knowledge-base task generator (docs/tasks.md, "kb").
#include "data/kb.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <numeric>
#include <unordered_set>

#include "core/error.h"
#include "data/random.h"
#include "data/task_plan.h"
#include "data/word_lists.h"

namespace msa::data {
namespace {

constexpr uint64_t kKbEntityStream = 3;
constexpr uint64_t kKbQuestionStream = 4;

// Key = adjectives a1 (< a2 when there are two) and noun n; a2 = -1 for 2-word keys.
struct KeyId {
  int64_t a1, a2, n;
  uint64_t code() const { return (uint64_t(a1) << 32) | (uint64_t(a2 + 1) << 16) | uint64_t(n); }
  std::string text() const {
    const auto& A = key_adjectives();
    const auto& N = key_nouns();
    if (a2 < 0) return fmt::format("{} {}", A[size_t(a1)], N[size_t(n)]);
    return fmt::format("{} {} {}", A[size_t(a1)], A[size_t(a2)], N[size_t(n)]);
  }
};

// Draws distinct keys from `adjs` x `nouns` (indices into the word lists);
// about a quarter of the keys have 2 words while any are left.
class KeyDrawer {
 public:
  KeyDrawer(std::vector<int64_t> adjs, std::vector<int64_t> nouns)
      : adjs_(std::move(adjs)), nouns_(std::move(nouns)) {
    const uint64_t na = adjs_.size(), nn = nouns_.size();
    two_capacity_ = na * nn;
    three_capacity_ = na * (na - 1) / 2 * nn;
  }
  uint64_t capacity() const { return two_capacity_ + three_capacity_; }

  KeyId draw(std::mt19937_64& rng) {
    MSA_CHECK(two_used_ + three_used_ < capacity(),
              "the kb task's key space ({} keys) is used up; ask for a smaller memory", capacity());
    for (;;) {
      const bool two = two_used_ < two_capacity_ && (three_used_ >= three_capacity_ || chance(rng, 1, 4));
      KeyId k{adjs_[uniform_below(rng, adjs_.size())], -1, nouns_[uniform_below(rng, nouns_.size())]};
      if (!two) {
        int64_t b = adjs_[uniform_below(rng, adjs_.size())];
        if (b == k.a1) continue;
        k.a2 = std::max(k.a1, b);
        k.a1 = std::min(k.a1, b);
      }
      if (!used_.insert(k.code()).second) continue;
      (two ? two_used_ : three_used_)++;
      return k;
    }
  }

 private:
  std::vector<int64_t> adjs_, nouns_;
  uint64_t two_capacity_ = 0, three_capacity_ = 0, two_used_ = 0, three_used_ = 0;
  std::unordered_set<uint64_t> used_;
};

std::vector<int64_t> all_indices(size_t n) {
  std::vector<int64_t> v(n);
  std::iota(v.begin(), v.end(), int64_t(0));
  return v;
}

KbEntity make_entity(const KeyId& k, std::mt19937_64& rng) {
  KbEntity e;
  e.key = k.text();
  e.number = std::to_string(1000 + uniform_below(rng, 9000));
  e.city = std::string(pick(city_names(), rng));
  e.person = std::string(pick(person_names(), rng));
  e.order = uint8_t(uniform_below(rng, 6));
  return e;
}

}  // namespace

std::string kb_document_text(const KbEntity& e) {
  const std::array<std::string, 3> s = {
      fmt::format("the magic number for the {} is {}.", e.key, e.number),
      fmt::format("the {} lives in {}.", e.key, e.city),
      fmt::format("the {} works for {}.", e.key, e.person),
  };
  static constexpr std::array<std::array<int, 3>, 6> kPerm = {
      {{0, 1, 2}, {0, 2, 1}, {1, 0, 2}, {1, 2, 0}, {2, 0, 1}, {2, 1, 0}}};
  const auto& p = kPerm[e.order % 6];
  return s[size_t(p[0])] + " " + s[size_t(p[1])] + " " + s[size_t(p[2])];
}

std::pair<std::string, std::string> kb_question(const KbEntity& e, KbAttribute a) {
  switch (a) {
    case KbAttribute::kNumber:
      return {fmt::format("what is the magic number for the {}?", e.key), e.number};
    case KbAttribute::kCity:
      return {fmt::format("what is the city where the {} lives?", e.key), e.city};
    case KbAttribute::kBoss:
      break;
  }
  return {fmt::format("what is the boss of the {}?", e.key), e.person};
}

// Half of the questions ask the number, a quarter each the city and the boss.
static KbAttribute draw_attribute(std::mt19937_64& rng) {
  const uint64_t x = uniform_below(rng, 4);
  return x < 2 ? KbAttribute::kNumber : x == 2 ? KbAttribute::kCity : KbAttribute::kBoss;
}

std::vector<KbEntity> generate_kb_entities(uint64_t seed, int64_t memory_tokens) {
  MSA_CHECK(memory_tokens > 0, "memory size must be > 0 tokens, got {}", memory_tokens);
  std::mt19937_64 rng(stream_seed(seed, kKbEntityStream));
  KeyDrawer keys(all_indices(key_adjectives().size()), all_indices(key_nouns().size()));
  std::vector<KbEntity> out;
  int64_t total = 0;
  while (total < memory_tokens) {
    MSA_CHECK(out.size() < keys.capacity(),
              "a kb memory of {} tokens needs more than the {} entity keys the task has; ask for a smaller memory",
              memory_tokens, keys.capacity());
    out.push_back(make_entity(keys.draw(rng), rng));
    total += memory_document_tokens(int64_t(out.size() - 1), kb_document_text(out.back()));
  }
  return out;
}

std::vector<Document> kb_documents(const std::vector<KbEntity>& entities) {
  std::vector<Document> docs;
  docs.reserve(entities.size());
  for (size_t i = 0; i < entities.size(); ++i) docs.push_back(Document{int64_t(i), kb_document_text(entities[i])});
  return docs;
}

TaskSet generate_kb_task(uint64_t seed, int64_t memory_tokens, int64_t num_questions) {
  MSA_CHECK(num_questions >= 0, "number of questions must be >= 0, got {}", num_questions);
  const std::vector<KbEntity> ents = generate_kb_entities(seed, memory_tokens);
  MSA_CHECK(size_t(num_questions) <= ents.size(),
            "a kb memory of {} tokens holds {} entities, fewer than the {} questions asked", memory_tokens,
            ents.size(), num_questions);
  TaskSet set;
  set.docs = kb_documents(ents);
  std::mt19937_64 rng(stream_seed(seed, kKbQuestionStream));
  std::vector<size_t> order(ents.size());
  std::iota(order.begin(), order.end(), size_t(0));
  for (int64_t i = 0; i < num_questions; ++i) std::swap(order[size_t(i)], order[size_t(i) + uniform_below(rng, order.size() - size_t(i))]);
  for (int64_t i = 0; i < num_questions; ++i) {
    const size_t g = order[size_t(i)];
    auto [q, a] = kb_question(ents[g], draw_attribute(rng));
    set.questions.push_back(Question{std::move(q), std::move(a), {int64_t(g)}});
    set.evidence_doc_ids.push_back(int64_t(g));
  }
  std::sort(set.evidence_doc_ids.begin(), set.evidence_doc_ids.end());
  return set;
}

KbTrainingMemory plan_kb_training_memory(int num_docs, int num_questions, std::mt19937_64& rng,
                                         double long_filler_prob) {
  MSA_CHECK(num_docs >= 1 && num_questions >= 0, "a kb training memory needs documents");
  // Sub-vocabulary: most memories draw keys from a few words, so keys collide on words.
  std::vector<int64_t> adjs = all_indices(key_adjectives().size()), nouns = all_indices(key_nouns().size());
  if (chance(rng, 7, 10)) {
    shuffle_in_place(adjs, rng);
    shuffle_in_place(nouns, rng);
    size_t na = size_t(uniform_int(rng, 3, 8)), nn = size_t(uniform_int(rng, 3, 8));
    auto cap = [&] { return na * nn + na * (na - 1) / 2 * nn; };
    while (cap() < size_t(2 * num_docs) && (na < adjs.size() || nn < nouns.size())) {
      if (na < adjs.size()) ++na;
      if (nn < nouns.size()) ++nn;
    }
    adjs.resize(na);
    nouns.resize(nn);
  }
  KeyDrawer keys(adjs, nouns);
  MSA_CHECK(keys.capacity() >= uint64_t(num_docs), "kb training memory of {} documents is too large", num_docs);
  KbTrainingMemory m;
  std::vector<KbEntity> ents;
  for (int i = 0; i < num_docs; ++i) ents.push_back(make_entity(keys.draw(rng), rng));
  std::vector<bool> is_filler(size_t(num_docs), false);
  if (num_docs > num_questions + 1 && uniform_below(rng, 1000) < uint64_t(long_filler_prob * 1000)) {
    const int64_t n = std::min<int64_t>(uniform_int(rng, 1, 3), num_docs - num_questions - 1);
    for (int64_t i = 0; i < n; ++i) is_filler[uniform_below(rng, size_t(num_docs))] = true;
  }
  std::vector<size_t> facts;
  for (int i = 0; i < num_docs; ++i) {
    if (is_filler[size_t(i)]) {
      std::string text;
      for (const auto& s : detail::filler_sentences(rng, int(uniform_int(rng, 60, 140)))) text += (text.empty() ? "" : " ") + s;
      m.texts.push_back(std::move(text));
    } else {
      m.texts.push_back(kb_document_text(ents[size_t(i)]));
      facts.push_back(size_t(i));
    }
  }
  MSA_CHECK(size_t(num_questions) <= facts.size(), "{} questions need as many fact documents", num_questions);
  for (int q = 0; q < num_questions; ++q) {
    std::swap(facts[size_t(q)], facts[size_t(q) + uniform_below(rng, facts.size() - size_t(q))]);
    m.gold.push_back(facts[size_t(q)]);
    m.qa.push_back(kb_question(ents[facts[size_t(q)]], draw_attribute(rng)));
  }
  return m;
}

}  // namespace msa::data
