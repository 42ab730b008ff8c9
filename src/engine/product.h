// What every product surface (`msa ask/chat/serve`, the Python package) loads
// and how it turns a question's options into Memory Interleave options: one
// place for the model loading rules and the defaults, so every surface gives
// the same answer to the same question.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "engine/interleave.h"
#include "memory/bank.h"
#include "model/model.h"
#include "model/tokenizer.h"

namespace msa::engine {

struct LoadedModel {
  std::shared_ptr<const model::Model> model;
  std::shared_ptr<const model::Tokenizer> tokenizer;  // <dir>/tokenizer.json
  std::string dir;
  bool random_weights = false;  // config.json says "msa_random_weights": answers are meaningless
};

// model_dir "" = the embedded default model (model::default_model_dir()).
LoadedModel load_model(const std::string& model_dir);

// Opening a bank for this model: its identity is checked; a writer encodes with it.
memory::BankOpenOptions bank_open_options(const LoadedModel& m, bool writer);

struct AskOptions {
  int64_t top_k = -1;  // documents per routing layer; <= 0: default_top_k(model)
  int rounds = 8;      // cap on retrieval rounds
  int64_t max_tokens = 256;  // cap on generated tokens over all rounds
  float temperature = 0.f;   // 0 = greedy (the reference)
  bool interleave = true;    // false: retrieve once, then answer
};

InterleaveOptions interleave_options(const model::ModelConfig& cfg, const AskOptions& o);

}  // namespace msa::engine
