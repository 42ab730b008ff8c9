// Task generation: haystack stream, needle placement, id assignment (docs/tasks.md).
#include "data/tasks.h"

#include <algorithm>
#include <cctype>
#include <numeric>
#include <string>
#include <utility>
#include <vector>

#include "core/error.h"
#include "data/kb.h"
#include "data/random.h"
#include "data/task_plan.h"
#include "data/word_lists.h"

namespace msa::data {
namespace {

// Named random streams of one seed: the haystack never depends on the questions.
constexpr uint64_t kHaystackStream = 1;
constexpr uint64_t kQuestionStream = 2;

struct TaskNameEntry {
  Task task;
  std::string_view name;
};
constexpr TaskNameEntry kTaskNames[] = {
    {Task::kNiah, "niah"},           {Task::kNiahMultiKey, "niah-multikey"}, {Task::kNiahMultiValue, "niah-multivalue"},
    {Task::kNiahMultiQuery, "niah-multiquery"}, {Task::kHop2, "hop2"},      {Task::kHop3, "hop3"},
    {Task::kKb, "kb"},
};

int64_t decimal_digits(int64_t v) {
  int64_t d = 1;
  for (v = v < 0 ? -v : v; v >= 10; v /= 10) ++d;
  return d;
}

std::string join(const std::vector<std::string>& parts, std::string_view sep) {
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i) out += sep;
    out += parts[i];
  }
  return out;
}

// `count` distinct values of [0, n), in random order (partial Fisher-Yates).
std::vector<size_t> distinct_slots(size_t count, size_t n, std::mt19937_64& rng) {
  std::vector<size_t> all(n);
  std::iota(all.begin(), all.end(), size_t(0));
  for (size_t i = 0; i < count; ++i) std::swap(all[i], all[i + uniform_below(rng, n - i)]);
  all.resize(count);
  return all;
}

// Writes the plan's needle documents at the slots and resolves the questions.
void place(const detail::TaskPlan& plan, const std::vector<size_t>& slots, std::mt19937_64& rng, TaskSet& set) {
  for (size_t i = 0; i < plan.needles.size(); ++i) {
    set.docs[slots[i]].text = detail::needle_body(rng, plan.needles[i]);
    set.evidence_doc_ids.push_back(set.docs[slots[i]].id);
  }
  std::sort(set.evidence_doc_ids.begin(), set.evidence_doc_ids.end());
  for (const auto& pq : plan.questions) {
    Question q;
    q.question = pq.question;
    std::vector<std::pair<int64_t, std::string>> gold;
    for (size_t j = 0; j < pq.needles.size(); ++j)
      gold.emplace_back(set.docs[slots[pq.needles[j]]].id, j < pq.answer_parts.size() ? pq.answer_parts[j] : "");
    if (pq.answer_by_doc_id) std::sort(gold.begin(), gold.end());
    std::vector<std::string> parts;
    for (auto& [id, part] : gold) {
      q.gold_doc_ids.push_back(id);
      if (!part.empty()) parts.push_back(part);
    }
    q.answer = pq.answer_parts.empty() ? pq.answer : join(parts, ", ");
    set.questions.push_back(std::move(q));
  }
}

}  // namespace

Task parse_task(std::string_view name) {
  for (const auto& e : kTaskNames)
    if (e.name == name) return e.task;
  std::string known;
  for (const auto& e : kTaskNames) known += (known.empty() ? "" : ", ") + std::string(e.name);
  throw_error("unknown task \"{}\" (known: {})", name, known);
}

std::string_view task_name(Task t) {
  for (const auto& e : kTaskNames)
    if (e.task == t) return e.name;
  return "?";
}

int64_t count_text_tokens(std::string_view text) {
  int64_t n = 0;
  bool in_word = false;
  int64_t digit_run = 0;
  for (unsigned char c : text) {
    const bool digit = std::isdigit(c);
    digit_run = digit ? digit_run + 1 : 0;
    if (digit) {
      if (digit_run % 3 == 1) ++n;  // digit runs are tokens of up to 3 digits
      in_word = false;
      continue;
    }
    bool letter = std::isalpha(c) || c >= 0x80;
    if (letter) {
      if (!in_word) ++n;
      in_word = true;
      continue;
    }
    in_word = false;
    if (!std::isspace(c)) ++n;  // a punctuation mark
  }
  return n;
}

int64_t memory_document_tokens(int64_t id, std::string_view text) {
  // "<|im_start|>" "[" id "]" "." text "[" id "]" "<|im_end|>"
  return count_text_tokens(text) + 2 * ((decimal_digits(id) + 2) / 3) + 7;
}

std::vector<Document> generate_filler(int64_t count, int64_t start_id, std::mt19937_64& rng) {
  MSA_CHECK(count >= 0, "filler document count must be >= 0, got {}", count);
  std::vector<Document> docs;
  docs.reserve(size_t(count));
  for (int64_t i = 0; i < count; ++i) docs.push_back(Document{start_id + i, detail::filler_body(rng)});
  return docs;
}

std::vector<Document> generate_haystack(uint64_t seed, int64_t memory_tokens) {
  MSA_CHECK(memory_tokens > 0, "memory size must be > 0 tokens, got {}", memory_tokens);
  std::mt19937_64 rng(stream_seed(seed, kHaystackStream));
  std::vector<Document> docs;
  docs.reserve(size_t(memory_tokens / 40 + 1));
  int64_t total = 0;
  while (total < memory_tokens) {
    Document d{int64_t(docs.size()), detail::filler_body(rng)};
    total += memory_document_tokens(d.id, d.text);
    docs.push_back(std::move(d));
  }
  return docs;
}

std::vector<Document> generate_memory_stream(Task task, uint64_t seed, int64_t memory_tokens) {
  if (task == Task::kKb) return kb_documents(generate_kb_entities(seed, memory_tokens));
  return generate_haystack(seed, memory_tokens);
}

TaskSet generate_task(const TaskOptions& opts) {
  MSA_CHECK(opts.num_questions >= 0, "number of questions must be >= 0, got {}", opts.num_questions);
  if (opts.task == Task::kKb) {
    MSA_CHECK(opts.evidence_slot_limit == 0, "--evidence-slots does not apply to the kb task (every document is evidence)");
    return generate_kb_task(opts.seed, opts.memory_tokens, opts.num_questions);
  }
  TaskSet set;
  set.docs = generate_haystack(opts.seed, opts.memory_tokens);
  std::mt19937_64 rng(stream_seed(opts.seed, kQuestionStream));
  detail::TaskPlan plan = detail::plan_eval(opts.task, opts.num_questions, rng);
  MSA_CHECK(plan.needles.size() <= set.docs.size(),
            "a memory of {} tokens holds {} documents, too few for the {} needle documents of {} {} questions; "
            "raise the memory size or lower the question count",
            opts.memory_tokens, set.docs.size(), plan.needles.size(), opts.num_questions, task_name(opts.task));
  MSA_CHECK(opts.evidence_slot_limit >= 0, "evidence slot limit must be >= 0, got {}", opts.evidence_slot_limit);
  const size_t slot_range = opts.evidence_slot_limit > 0
                                ? std::min(set.docs.size(), size_t(opts.evidence_slot_limit))
                                : set.docs.size();
  MSA_CHECK(plan.needles.size() <= slot_range, "{} needle documents do not fit in the first {} slots",
            plan.needles.size(), slot_range);
  std::vector<size_t> slots = distinct_slots(plan.needles.size(), slot_range, rng);
  place(plan, slots, rng, set);
  return set;
}

std::vector<std::string> generate_long_documents(uint64_t seed, int64_t count) {
  MSA_CHECK(count >= 0, "long document count must be >= 0, got {}", count);
  constexpr uint64_t kLongDocumentStream = 5;
  std::mt19937_64 rng(stream_seed(seed, kLongDocumentStream));
  std::vector<std::string> out;
  for (int64_t i = 0; i < count; ++i) {
    std::string text;
    for (const auto& s : detail::filler_sentences(rng, int(uniform_int(rng, 200, 400))))
      text += (text.empty() ? "" : " ") + s;
    out.push_back(std::move(text));
  }
  return out;
}

TaskSet generate_training_memory(Task task, int num_docs, int num_questions, int max_id_digits,
                                 std::mt19937_64& rng, NeedleDensity density) {
  MSA_CHECK(num_docs >= 1, "a training memory needs at least 1 document, got {}", num_docs);
  MSA_CHECK(num_questions >= 0, "number of questions must be >= 0, got {}", num_questions);
  MSA_CHECK(max_id_digits >= 1 && max_id_digits <= 18, "max_id_digits must be in [1, 18], got {}", max_id_digits);
  // Distinct ids, digit count uniform in [1, max_id_digits]; a full digit class is redrawn.
  std::vector<int64_t> capacity(size_t(max_id_digits) + 1), used_per_len(size_t(max_id_digits) + 1, 0);
  int64_t total_capacity = 0;
  for (int d = 1; d <= max_id_digits; ++d) {
    int64_t lo = d == 1 ? 0 : 1;
    for (int i = 1; i < d; ++i) lo *= 10;
    capacity[size_t(d)] = d == 1 ? 10 : lo * 9;
    total_capacity += capacity[size_t(d)];
  }
  MSA_CHECK(num_docs <= total_capacity, "{} documents do not fit in ids of at most {} digits", num_docs,
            max_id_digits);
  std::vector<int64_t> ids;
  ids.reserve(size_t(num_docs));
  std::vector<int64_t> sorted_ids;
  while (int64_t(ids.size()) < num_docs) {
    int64_t d = uniform_int(rng, 1, max_id_digits);
    if (used_per_len[size_t(d)] == capacity[size_t(d)]) continue;
    int64_t lo = d == 1 ? 0 : capacity[size_t(d)] / 9;
    int64_t id = lo + int64_t(uniform_below(rng, uint64_t(capacity[size_t(d)])));
    auto at = std::lower_bound(sorted_ids.begin(), sorted_ids.end(), id);
    if (at != sorted_ids.end() && *at == id) continue;
    sorted_ids.insert(at, id);
    ids.push_back(id);
    ++used_per_len[size_t(d)];
  }
  TaskSet set;
  if (task == Task::kKb) {
    KbTrainingMemory kb = plan_kb_training_memory(num_docs, num_questions, rng);
    for (int i = 0; i < num_docs; ++i) set.docs.push_back(Document{ids[size_t(i)], std::move(kb.texts[size_t(i)])});
    for (size_t q = 0; q < kb.qa.size(); ++q) {
      set.questions.push_back(Question{kb.qa[q].first, kb.qa[q].second, {ids[kb.gold[q]]}});
      set.evidence_doc_ids.push_back(ids[kb.gold[q]]);
    }
    std::sort(set.evidence_doc_ids.begin(), set.evidence_doc_ids.end());
    return set;
  }
  detail::TaskPlan plan = detail::plan_training(task, num_questions, num_docs, rng, density == NeedleDensity::kSparse);
  set.docs.reserve(size_t(num_docs));
  for (int i = 0; i < num_docs; ++i) set.docs.push_back(Document{ids[size_t(i)], std::string()});
  std::vector<size_t> slots = distinct_slots(plan.needles.size(), size_t(num_docs), rng);
  std::vector<bool> is_needle(size_t(num_docs), false);
  for (size_t s : slots) is_needle[s] = true;
  for (int i = 0; i < num_docs; ++i)
    if (!is_needle[size_t(i)]) set.docs[size_t(i)].text = detail::filler_body(rng);
  place(plan, slots, rng, set);
  return set;
}

std::vector<std::string> vocabulary_corpus() {
  std::vector<std::string> out;
  for (const auto* list : {&filler_words(), &key_adjectives(), &key_nouns(), &city_names(), &person_names(),
                           &template_words()})
    for (std::string_view w : *list) out.emplace_back(w);
  for (char c = '0'; c <= '9'; ++c) out.emplace_back(1, c);
  for (const char* p : {".", ",", "?", "[", "]"}) out.emplace_back(p);
  return out;
}

}  // namespace msa::data
