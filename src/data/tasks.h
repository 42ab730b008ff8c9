// Seeded synthetic tasks in MSA form (docs/tasks.md): RULER-style needle-in-a-
// haystack variants and 2-/3-hop chains whose evidence sits in different
// documents. Text only: the same data feeds `msa bank add`, the trainer, the
// evaluator and any peer system. Memory sizes are counted in "text tokens"
// (words, groups of up to 3 digits and punctuation marks, see count_text_tokens), which is the
// tiny model's token count and a documented proxy for other tokenizers.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace msa::data {

enum class Task { kNiah, kNiahMultiKey, kNiahMultiValue, kNiahMultiQuery, kHop2, kHop3, kKb };
Task parse_task(std::string_view name);  // "niah", "niah-multikey", ..., "hop2", "hop3", "kb"; throws msa::Error
std::string_view task_name(Task t);

struct Document {
  int64_t id = 0;    // the model-sense id, "[id]" in the prompt: its index in the memory list
  std::string text;  // raw document text (what interleave injects)
};

struct Question {
  std::string question;
  std::string answer;
  std::vector<int64_t> gold_doc_ids;  // evidence documents, in hop order (first hop first)
};

struct TaskSet {
  std::vector<Document> docs;  // docs[i].id == i (generate_task); random ids (generate_training_memory)
  std::vector<Question> questions;
  // Ids of every document that is not plain filler (gold evidence and
  // distractor needles), ascending. All other documents are exactly the
  // haystack stream's filler (see generate_haystack).
  std::vector<int64_t> evidence_doc_ids;
};

struct TaskOptions {
  Task task = Task::kNiah;
  int64_t memory_tokens = 16384;  // haystack size in text tokens (approximate, +- one document)
  int64_t num_questions = 100;
  uint64_t seed = 0;
  // > 0: needle documents only at slots [0, evidence_slot_limit), so gold ids
  // have at most that many digits whatever the memory size (separates id
  // length from memory size, tiny-model-notes §4.2). 0: anywhere.
  int64_t evidence_slot_limit = 0;
};

// A whole evaluation memory + questions (what `msa gen-data` writes).
// = generate_haystack(seed, memory_tokens) with the questions' needle documents
// written over filler documents at random slots (docs/tasks.md).
TaskSet generate_task(const TaskOptions& opts);

// The filler memory generate_task starts from: documents 0.. until their
// memory_document_tokens sum reaches memory_tokens. One stream per seed, so the
// haystack of a smaller size is a prefix of the haystack of a larger size (an
// evaluator encodes the largest once and reuses prefixes).
std::vector<Document> generate_haystack(uint64_t seed, int64_t memory_tokens);

// The document stream a task's evaluation memory starts from: the filler
// haystack, or for kb the entity fact sheets (data/kb.h). Prefix property as
// generate_haystack; generate_task(opts).docs equals this stream of its size
// with the needle documents written over their slots (kb: no overwrites).
std::vector<Document> generate_memory_stream(Task task, uint64_t seed, int64_t memory_tokens);

// One small training memory: `num_docs` documents (needles/evidence included at
// random slots) whose ids are drawn at random (digit count uniform in
// [1, max_id_digits], all distinct) instead of being slot indices, so that
// training covers every id length seen at evaluation; plus `num_questions`
// questions on it (each with its own gold documents).
// Needle density of a training memory: kMixed draws sparse / half / full per
// memory (every document a needle: "contains a needle" never suffices);
// kSparse keeps the questions' needles plus 0-3 distractors in half of the
// memories (the prototype's single-needle recipe, the first curriculum stage).
enum class NeedleDensity { kMixed, kSparse };
TaskSet generate_training_memory(Task task, int num_docs, int num_questions, int max_id_digits,
                                 std::mt19937_64& rng, NeedleDensity density = NeedleDensity::kMixed);

// Filler documents only (the haystack of generate_task), ids start_id.. ; used to
// build a large bank once and reuse it across questions.
std::vector<Document> generate_filler(int64_t count, int64_t start_id, std::mt19937_64& rng);

// `count` long filler documents (200-400 words each; their own stream of the seed),
// for measuring whether routing prefers documents with many chunks.
std::vector<std::string> generate_long_documents(uint64_t seed, int64_t count);

// Words, digit groups and punctuation marks in `text` (the tiny tokenizer's count):
// a run of letters is 1, a run of n digits is ceil(n/3), every other non-space
// character is 1.
int64_t count_text_tokens(std::string_view text);
// Text tokens of the formatted memory document "<|im_start|>[id]. text[id]<|im_end|>"
// (spec §3.2): count_text_tokens(text) + 2 * ceil(digits(id)/3) + 7.
int64_t memory_document_tokens(int64_t id, std::string_view text);

// Every string the generators can produce words from (for training the tiny BPE tokenizer).
std::vector<std::string> vocabulary_corpus();

}  // namespace msa::data
