// What a task puts into a memory, before placement: the needle sentences (one
// per evidence or distractor document) and the questions that point at them.
// generate_task / generate_training_memory (tasks.cc) place the needles into
// documents and turn needle indices into document ids. Sentence formats: docs/tasks.md.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "data/tasks.h"

namespace msa::data::detail {

struct PlannedQuestion {
  std::string question;
  std::vector<size_t> needles;            // indices into TaskPlan::needles, in gold order
  std::vector<std::string> answer_parts;  // one per needle for NIAH variants; joined by ", "
  bool answer_by_doc_id = false;          // multi-value: order gold docs and parts by ascending doc id
  std::string answer;                     // hop tasks: the final value (answer_parts empty)
};

struct TaskPlan {
  std::vector<std::string> needles;  // one sentence per non-filler document
  std::vector<PlannedQuestion> questions;
};

// Evaluation plan (RULER-like, docs/tasks.md): distinct keys, values and
// bridge entities across the whole memory.
TaskPlan plan_eval(Task task, int64_t num_questions, std::mt19937_64& rng);

// Training plan: the evaluation questions plus confusable distractor needles
// (keys sharing a word with a question key) and extra needles, at a density
// drawn per memory, never more than max_needles needle sentences in total.
TaskPlan plan_training(Task task, int64_t num_questions, int64_t max_needles, std::mt19937_64& rng,
                       bool sparse_only = false);

// Filler sentences ("w w w w." of 4-8 filler words) until at least min_words words.
std::vector<std::string> filler_sentences(std::mt19937_64& rng, int min_words);
// A filler document body of 24+ words.
std::string filler_body(std::mt19937_64& rng);
// A needle document: shorter filler with `sentence` at a random sentence boundary.
std::string needle_body(std::mt19937_64& rng, const std::string& sentence);

}  // namespace msa::data::detail
