// `msa eval`: accuracy and routing recall of a model on generated tasks
// (data/tasks.h) as the memory grows, through the real engine — stage-1
// encoding into an in-memory bank, routing, Memory Interleave (docs/eval.md).
//
// Large memories are cheap to sweep: the filler haystack of the largest size
// is encoded once; each size's bank is assembled from the cached encodings of
// its prefix with the separately encoded needle documents at their slots
// (documents are encoded independently, spec §3.6, so this is exactly the bank
// a full encode would build).
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "data/tasks.h"
#include "eval/persistent_memory.h"
#include "eval/plot.h"

namespace msa::eval {

struct EvalOptions {
  std::filesystem::path model_dir;  // config.json, weights, tokenizer.json
  data::Task task = data::Task::kNiah;
  std::vector<int64_t> sizes;       // memory sizes in text tokens (docs/tasks.md)
  int64_t questions = 100;
  uint64_t seed = 0;
  int64_t top_k = -1;               // documents per routing layer; -1: the model's default
  int64_t max_round_tokens = 48;    // generated tokens per interleave call
  int64_t max_total_tokens = 192;   // generated tokens per question
  bool ablations = true;            // hop tasks: also single-round and no-text-injection runs
  int64_t evidence_slot_limit = 0;  // > 0: needles only in the first N slots (data::TaskOptions)
  // false (default, RULER protocol): each question's haystack holds only its own
  // gold documents (other questions' gold slots show filler; eval/question_memory.h).
  // true: one memory holds every question's needles (a knowledge base).
  bool shared_memory = false;
  // Length fairness: this many long filler documents (200-400 words, 13-26
  // chunks of 16) are added after every size's memory (ids after its last).
  int64_t long_documents = 0;
  int64_t show_transcripts = 0;     // log the interleave transcript of the first N questions per size
  // The memory routed over: in-memory f32 (the reference's numerics) or a
  // persistent bank as `msa ask` / `msa serve` read it (bf16 keys and K/V).
  // Reported with every number (table header, CSV column, metrics).
  BankPath bank_path = BankPath::kInMemory;
  std::filesystem::path work_dir;   // persistent path: where the temporary banks go (default: temp dir)
  std::function<void(const std::string&)> log;  // progress lines; may be empty
};

constexpr double kNotMeasured = std::numeric_limits<double>::quiet_NaN();

struct LayerRecall {
  int layer = -1;
  double recall_at_k = 0;  // round-1 gold documents among this layer's top-k
  double recall_at_1 = 0;  // this layer's top-1 is a round-1 gold document
};

// One question's outcome (msa eval --answers).
struct QuestionOutcome {
  std::string question, reference, prediction, stop_reason;
  std::vector<int64_t> gold_doc_ids;
  double score = 0;  // string_match_all(prediction, reference)
};

struct SizeResult {
  int64_t memory_tokens = 0;  // requested size
  int64_t actual_tokens = 0, num_docs = 0, num_chunks = 0, questions = 0;
  double answer_acc = 0;                             // Memory Interleave (string_match_all)
  double answer_acc_single_round = kNotMeasured;     // hop tasks: one retrieval round, then answer
  double answer_acc_no_text = kNotMeasured;          // hop tasks: interleave, ids injected without text
  double id_acc = 0;           // round 1 generated every round-1 gold id
  // id_acc split by the digit count of the question's first gold id: [digits] = {correct, total}.
  std::map<int, std::pair<int64_t, int64_t>> id_acc_by_digits;
  double recall_at_k = 0;      // round-1 gold documents selected by at least one routing layer
  std::vector<LayerRecall> layers;
  double evidence_recall = 0;  // all gold documents cited over the whole interleave transcript
  double mean_rounds = 0;
  double encode_s = 0, answer_s = 0;
  std::vector<QuestionOutcome> outcomes;  // per question, in question order
};

struct EvalReport {
  std::string task, model;
  bool random_weights = false;
  std::string bank_path;  // bank_path_name() of the memory every number here comes from
  int64_t long_documents = 0;  // long filler documents mixed into every memory
  bool shared_memory = false;  // protocol: one memory for all questions (always for kb)
  int64_t top_k = 0;
  uint64_t seed = 0;
  std::vector<SizeResult> sizes;
};

EvalReport run_eval(const EvalOptions& opts);

// RULER string_match_all: fraction of the ", "-separated reference parts found
// (case-insensitive) in the prediction.
double string_match_all(const std::string& prediction, const std::string& reference);

// Wilson score interval (95 %) of a proportion p measured on n trials.
std::pair<double, double> wilson_interval95(double p, int64_t n);

std::string format_table(const EvalReport& r);
// "metric: name = value" lines (docs/eval.md lists the names).
std::string format_metrics(const EvalReport& r);
std::string format_csv(const EvalReport& r);
// One JSON line per question and size: size, question, reference, prediction, score, stop_reason, gold_doc_ids.
std::string format_answers_jsonl(const EvalReport& r);
LinePlot make_plot(const EvalReport& r);

}  // namespace msa::eval
