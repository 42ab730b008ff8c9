// Needle sentences and questions of every task (docs/tasks.md) and the
// per-memory bookkeeping that keeps keys, values and entities distinct.
#include "data/task_plan.h"

#include <fmt/format.h>

#include <string>
#include <vector>

#include "core/error.h"
#include "data/random.h"
#include "data/word_lists.h"

namespace msa::data::detail {
namespace {

constexpr int kFillerMinWords = 24;  // filler body: 24..31 words
constexpr int kNeedleMinFiller = 12;  // filler words around a needle sentence (at least)

// Keys, values, cities and people already used in one memory.
class Pool {
 public:
  explicit Pool(std::mt19937_64& rng)
      : rng_(rng),
        used_key_(key_adjectives().size() * key_nouns().size(), false),
        used_value_(9000, false),
        used_city_(city_names().size(), false),
        used_person_(person_names().size(), false) {}

  struct Key {
    size_t adj, noun;
    std::string text() const { return fmt::format("{} {}", key_adjectives()[adj], key_nouns()[noun]); }
  };

  bool keys_left() const { return keys_used_ < used_key_.size(); }

  Key fresh_key() {
    MSA_CHECK(keys_left(), "all {} needle keys are used in this memory; ask for fewer questions", used_key_.size());
    for (;;) {
      size_t k = uniform_below(rng_, used_key_.size());
      if (!used_key_[k]) return take(k);
    }
  }

  // An unused key sharing the adjective or the noun with k; a fresh key when none is left.
  Key confusable_key(const Key& k) {
    const size_t na = key_adjectives().size(), nn = key_nouns().size();
    bool same_adj = chance(rng_, 1, 2);
    for (int attempt = 0; attempt < 2; ++attempt, same_adj = !same_adj) {
      size_t n = same_adj ? nn : na;
      size_t start = uniform_below(rng_, n);
      for (size_t i = 0; i < n; ++i) {
        size_t other = (start + i) % n;
        size_t idx = same_adj ? k.adj * nn + other : other * nn + k.noun;
        if (!used_key_[idx]) return take(idx);
      }
    }
    return fresh_key();
  }

  // A 4-digit value (1000..9999) not yet used in this memory.
  std::string fresh_value() {
    MSA_CHECK(values_used_ < used_value_.size(), "all 9000 values are used in this memory; ask for fewer questions");
    for (;;) {
      size_t v = uniform_below(rng_, used_value_.size());
      if (!used_value_[v]) {
        used_value_[v] = true;
        ++values_used_;
        return std::to_string(1000 + v);
      }
    }
  }

  bool cities_left() const { return cities_used_ < used_city_.size(); }
  bool people_left() const { return people_used_ < used_person_.size(); }
  std::string fresh_city() { return fresh_entity(used_city_, cities_used_, city_names(), "city names"); }
  std::string fresh_person() { return fresh_entity(used_person_, people_used_, person_names(), "person names"); }

 private:
  Key take(size_t idx) {
    used_key_[idx] = true;
    ++keys_used_;
    return Key{idx / key_nouns().size(), idx % key_nouns().size()};
  }
  std::string fresh_entity(std::vector<bool>& used, size_t& count, const std::vector<std::string_view>& names,
                           const char* what) {
    MSA_CHECK(count < used.size(),
              "a memory of this task can hold at most {} chains ({} {} available); ask for fewer questions",
              used.size(), used.size(), what);
    for (;;) {
      size_t i = uniform_below(rng_, used.size());
      if (!used[i]) {
        used[i] = true;
        ++count;
        return std::string(names[i]);
      }
    }
  }

  std::mt19937_64& rng_;
  std::vector<bool> used_key_, used_value_, used_city_, used_person_;
  size_t keys_used_ = 0, values_used_ = 0, cities_used_ = 0, people_used_ = 0;
};

std::string magic_needle(const std::string& key, const std::string& value) {
  return fmt::format("the magic number for {} is {}.", key, value);
}
std::string city_value_needle(const std::string& city, const std::string& value) {
  return fmt::format("the magic number of {} is {}.", city, value);
}
std::string lives_in(const std::string& who, const std::string& city) {
  return fmt::format("{} lives in {}.", who, city);
}
std::string works_for(const std::string& key, const std::string& person) {
  return fmt::format("the {} works for {}.", key, person);
}

size_t add(TaskPlan& plan, std::string sentence) {
  plan.needles.push_back(std::move(sentence));
  return plan.needles.size() - 1;
}

// The gold documents of one question; returns the question's key words (for confusers).
std::vector<Pool::Key> plan_question(Task task, Pool& pool, TaskPlan& plan, std::mt19937_64& rng) {
  PlannedQuestion q;
  std::vector<Pool::Key> keys;
  switch (task) {
    case Task::kNiah:
    case Task::kNiahMultiKey: {
      Pool::Key k = pool.fresh_key();
      std::string v = pool.fresh_value();
      q.question = fmt::format("what is the magic number for {}?", k.text());
      q.needles.push_back(add(plan, magic_needle(k.text(), v)));
      q.answer_parts.push_back(v);
      keys.push_back(k);
      break;
    }
    case Task::kNiahMultiValue: {
      Pool::Key k = pool.fresh_key();
      int64_t n = uniform_int(rng, 2, 4);
      q.question = fmt::format("what are all the magic numbers for {}?", k.text());
      for (int64_t i = 0; i < n; ++i) {
        std::string v = pool.fresh_value();
        q.needles.push_back(add(plan, magic_needle(k.text(), v)));
        q.answer_parts.push_back(v);
      }
      q.answer_by_doc_id = true;
      keys.push_back(k);
      break;
    }
    case Task::kNiahMultiQuery: {
      Pool::Key a = pool.fresh_key(), b = pool.fresh_key();
      std::string va = pool.fresh_value(), vb = pool.fresh_value();
      q.question = fmt::format("what are the magic numbers for {} and {}?", a.text(), b.text());
      q.needles.push_back(add(plan, magic_needle(a.text(), va)));
      q.needles.push_back(add(plan, magic_needle(b.text(), vb)));
      q.answer_parts = {va, vb};
      keys = {a, b};
      break;
    }
    case Task::kHop2: {
      Pool::Key k = pool.fresh_key();
      std::string city = pool.fresh_city(), v = pool.fresh_value();
      q.question = fmt::format("what is the magic number of the city where the {} lives?", k.text());
      q.needles.push_back(add(plan, lives_in("the " + k.text(), city)));
      q.needles.push_back(add(plan, city_value_needle(city, v)));
      q.answer = v;
      keys.push_back(k);
      break;
    }
    case Task::kHop3: {
      Pool::Key k = pool.fresh_key();
      std::string person = pool.fresh_person(), city = pool.fresh_city(), v = pool.fresh_value();
      q.question = fmt::format("what is the magic number of the city where the boss of the {} lives?", k.text());
      q.needles.push_back(add(plan, works_for(k.text(), person)));
      q.needles.push_back(add(plan, lives_in(person, city)));
      q.needles.push_back(add(plan, city_value_needle(city, v)));
      q.answer = v;
      keys.push_back(k);
      break;
    }
    case Task::kKb:
      throw_error("the kb task has its own generator (data/kb.h)");
  }
  plan.questions.push_back(std::move(q));
  return keys;
}

// One distractor needle with key c (same sentence form as the task's first hop).
void add_distractor(Task task, const Pool::Key& c, Pool& pool, TaskPlan& plan, std::mt19937_64& rng) {
  switch (task) {
    case Task::kHop2:
      if (!pool.cities_left()) return;
      {
        std::string city = pool.fresh_city();
        add(plan, lives_in("the " + c.text(), city));
        // Half of the time the wrong city's value is in memory too, so hop 2 must follow hop 1.
        if (chance(rng, 1, 2)) add(plan, city_value_needle(city, pool.fresh_value()));
      }
      return;
    case Task::kHop3:
      if (!pool.people_left()) return;
      {
        std::string person = pool.fresh_person();
        add(plan, works_for(c.text(), person));
        if (chance(rng, 1, 2) && pool.cities_left()) add(plan, lives_in(person, pool.fresh_city()));
      }
      return;
    default:
      add(plan, magic_needle(c.text(), pool.fresh_value()));
  }
}

// A distractor whose key shares a word with k.
void add_confuser(Task task, const Pool::Key& k, Pool& pool, TaskPlan& plan, std::mt19937_64& rng) {
  if (pool.keys_left()) add_distractor(task, pool.confusable_key(k), pool, plan, rng);
}

// A distractor with a random fresh key.
void add_random_needle(Task task, Pool& pool, TaskPlan& plan, std::mt19937_64& rng) {
  if (pool.keys_left()) add_distractor(task, pool.fresh_key(), pool, plan, rng);
}

}  // namespace

TaskPlan plan_eval(Task task, int64_t num_questions, std::mt19937_64& rng) {
  Pool pool(rng);
  TaskPlan plan;
  for (int64_t i = 0; i < num_questions; ++i) {
    std::vector<Pool::Key> keys = plan_question(task, pool, plan, rng);
    // RULER multikey_1: three more needles with other keys; ours share a word with the gold key.
    if (task == Task::kNiahMultiKey)
      for (int d = 0; d < 3; ++d) add_confuser(task, keys[0], pool, plan, rng);
  }
  return plan;
}

TaskPlan plan_training(Task task, int64_t num_questions, int64_t max_needles, std::mt19937_64& rng,
                       bool sparse_only) {
  Pool pool(rng);
  TaskPlan plan;
  std::vector<Pool::Key> question_keys;
  for (int64_t i = 0; i < num_questions; ++i) {
    std::vector<Pool::Key> keys = plan_question(task, pool, plan, rng);
    question_keys.insert(question_keys.end(), keys.begin(), keys.end());
  }
  MSA_CHECK(int64_t(plan.needles.size()) <= max_needles,
            "{} questions of task {} need {} evidence documents; the training memory has only {}", num_questions,
            task_name(task), plan.needles.size(), max_needles);
  if (question_keys.empty()) return plan;
  if (sparse_only) {
    // Half of the memories: only the questions' evidence; the other half: 1-3 random distractors.
    if (uniform_int(rng, 0, 1) == 1) {
      const int64_t extra = uniform_int(rng, 1, 3);
      for (int64_t i = 0; i < extra && int64_t(plan.needles.size()) < max_needles; ++i) {
        size_t before = plan.needles.size();
        add_random_needle(task, pool, plan, rng);
        if (int64_t(plan.needles.size()) > max_needles) plan.needles.resize(size_t(max_needles));
        if (plan.needles.size() == before) break;
      }
    }
    return plan;
  }
  // Needle density per memory: sparse (a few confusers), half, or full (every
  // document a needle, RULER multikey_2-like), so that "contains a needle" is
  // never enough to find the gold document.
  const int64_t mode = uniform_int(rng, 0, 2);
  const int64_t target = mode == 0 ? std::min<int64_t>(max_needles, int64_t(plan.needles.size()) + uniform_int(rng, 0, 4))
                         : mode == 1 ? std::max<int64_t>(int64_t(plan.needles.size()), max_needles / 2)
                                     : max_needles;
  // First confusers of the question keys (round robin), then unrelated needles.
  int64_t confusers = 0;
  const int64_t max_confusers = int64_t(question_keys.size()) * (mode == 0 ? 3 : 6);
  for (size_t i = 0; int64_t(plan.needles.size()) < target && confusers < max_confusers; ++i, ++confusers) {
    size_t before = plan.needles.size();
    add_confuser(task, question_keys[i % question_keys.size()], pool, plan, rng);
    if (int64_t(plan.needles.size()) > target) plan.needles.resize(size_t(target));  // a 2-sentence confuser at the edge
    if (plan.needles.size() == before) break;  // entities exhausted
  }
  while (int64_t(plan.needles.size()) < target) {
    size_t before = plan.needles.size();
    add_random_needle(task, pool, plan, rng);
    if (int64_t(plan.needles.size()) > target) plan.needles.resize(size_t(target));
    if (plan.needles.size() == before) break;
  }
  return plan;
}

std::vector<std::string> filler_sentences(std::mt19937_64& rng, int min_words) {
  const auto& words = filler_words();
  std::vector<std::string> out;
  int total = 0;
  while (total < min_words) {
    int64_t n = uniform_int(rng, 4, 8);
    std::string s;
    for (int64_t i = 0; i < n; ++i) {
      if (i) s += ' ';
      s += pick(words, rng);
    }
    s += '.';
    out.push_back(std::move(s));
    total += int(n);
  }
  return out;
}

namespace {
std::string join_sentences(const std::vector<std::string>& sentences) {
  std::string out;
  for (const auto& s : sentences) {
    if (!out.empty()) out += ' ';
    out += s;
  }
  return out;
}
}  // namespace

std::string filler_body(std::mt19937_64& rng) { return join_sentences(filler_sentences(rng, kFillerMinWords)); }

std::string needle_body(std::mt19937_64& rng, const std::string& sentence) {
  std::vector<std::string> s = filler_sentences(rng, kNeedleMinFiller + int(uniform_below(rng, 6)));
  size_t at = uniform_below(rng, s.size() + 1);
  s.insert(s.begin() + std::ptrdiff_t(at), sentence);
  return join_sentences(s);
}

}  // namespace msa::data::detail
