// The knowledge-base task ("kb", docs/tasks.md): every document is a fact sheet
// about one entity, and the entities' keys share words with each other, so a
// memory is all hard negatives (issue: "memory that tells documents apart").
// An entity has a key of 2 or 3 key words ("ADJ NOUN" or "ADJ ADJ NOUN", the
// two adjectives in list order) and three attributes: a magic number (4
// digits), the city it lives in and its boss (a person). Its document states
// the three in random order:
//   "the KEY lives in CITY. the magic number for the KEY is V. the KEY works for PERSON."
// Questions ask one attribute of one entity; every document is the answer to
// some question.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "data/tasks.h"

namespace msa::data {

struct KbEntity {
  std::string key;     // "amber falcon" or "amber quiet falcon"
  std::string number;  // "4821"
  std::string city, person;
  uint8_t order = 0;   // permutation index (0..5) of the three attribute sentences
};

enum class KbAttribute { kNumber, kCity, kBoss };

std::string kb_document_text(const KbEntity& e);
// The question about `a` of `e` and its answer.
std::pair<std::string, std::string> kb_question(const KbEntity& e, KbAttribute a);

// The entity stream of one seed: entities 0, 1, ... with distinct keys, until
// their formatted documents (memory_document_tokens with id = index) reach
// memory_tokens. The memory of a smaller size is a prefix of a larger one.
// Throws when the key space (4 096 two-word + 129 024 three-word keys) runs out.
std::vector<KbEntity> generate_kb_entities(uint64_t seed, int64_t memory_tokens);

// Documents of generate_kb_entities (ids = indices).
std::vector<Document> kb_documents(const std::vector<KbEntity>& entities);

// An evaluation memory: the entity stream of `seed` and `num_questions`
// questions on distinct entities drawn uniformly from the whole memory.
TaskSet generate_kb_task(uint64_t seed, int64_t memory_tokens, int64_t num_questions);

// A training memory of `num_docs` fact sheets (ids assigned by the caller).
// Keys are drawn from a small sub-vocabulary of the memory (3-8 adjectives,
// 3-8 nouns) in most memories, so most documents share a key word with many
// others; the rest draw keys from the full lists. With probability
// long_filler_prob, 1-3 documents are replaced by long filler documents
// (several chunks each), so routing learns not to prefer long documents.
struct KbTrainingMemory {
  std::vector<std::string> texts;               // [num_docs]
  std::vector<std::pair<std::string, std::string>> qa;  // question, answer
  std::vector<size_t> gold;                     // per question: index into texts
};
KbTrainingMemory plan_kb_training_memory(int num_docs, int num_questions, std::mt19937_64& rng,
                                         double long_filler_prob = 0.25);

}  // namespace msa::data
