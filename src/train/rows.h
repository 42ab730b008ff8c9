// Training rows = inference rows (spec §4.1, §6, §7.4 "Multi-hop / interleave
// supervision"). A question with gold chain [g1, ..., gm] becomes m+1
// one-step samples, each the exact row the inference driver
// (engine/interleave) prefills in that round, followed by its targets:
//   round 0: first_round_row(Q)                          -> "[g1]<|object_ref_end|>"
//   round r: reencode_row(transcript with g1..gr injected) -> "[g(r+1)]<|object_ref_end|>"
//   round m: reencode_row(...)  -> "<End-of-Retrieve>" + restatement (no loss)
//                                  + "The answer to the question is: A<|im_end|>"
// Tasks without a chain (needles) retrieve all gold ids in one round.
// Memory documents are formatted as in §3.2; the doc-suffix reconstruction
// targets are each document's trailing "d..d ] <|im_end|>" tokens.
#pragma once

#include <random>
#include <string>
#include <vector>

#include "data/tasks.h"
#include "model/tokenizer.h"
#include "train/step.h"

namespace msa::train {

struct TaskWeight {
  data::Task task;
  double weight;
};

struct RowOptions {
  int64_t top_k = 4;          // only the positions depend on it (3+k+t)
  bool rows_all_rounds = true;  // false: one random round per question
};

// Rows and documents of one memory (ids in the text are the memory's ids).
Episode make_episode(const model::Tokenizer& tok, const data::TaskSet& set, bool chain_task, const RowOptions& o,
                     std::mt19937_64& rng);

// Positions of a document's reconstruction targets: first index t whose next
// token is a target (the trailing id digits, "]" and "<|im_end|>"), or -1.
int32_t rec_start(const model::Tokenizer& tok, const std::vector<int32_t>& doc_ids, int64_t id);

struct BatchOptions {
  std::vector<TaskWeight> tasks;
  int docs_per_memory = 16;
  int questions_per_memory = 2;
  int max_id_digits = 3;
  int memories = 8;
  data::NeedleDensity density = data::NeedleDensity::kMixed;
  RowOptions rows;
};

Batch make_batch(const model::Tokenizer& tok, const BatchOptions& o, std::mt19937_64& rng);

}  // namespace msa::train
