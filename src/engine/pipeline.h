// Text-level MSA pipeline over a model + tokenizer: format and encode memory
// documents (stage 1), build the first-round question row (spec §4.1), prefill
// with routing (stage 2) and generate (stage 3). This is the single-round path;
// Memory Interleave builds on it.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engine/sampler.h"
#include "engine/session.h"
#include "memory/in_memory_bank.h"
#include "model/model.h"
#include "model/tokenizer.h"

namespace msa::engine {

// Positions of a first-round row (spec §4.1): 3 + k + t.
std::vector<int32_t> first_round_positions(size_t n, int64_t k, int64_t template_tokens = 3);

struct GenerateOptions {
  int64_t max_new_tokens = 128;
  SamplerOptions sampler;
  std::vector<int32_t> stop_ids;  // empty: the model's eos ids + <|im_end|>/<|endoftext|>
};

struct Answer {
  std::string text;
  std::vector<int32_t> tokens;
  std::vector<LayerRouting> routing;
  int64_t prompt_tokens = 0;
  double route_prefill_ms = 0, decode_ms = 0;
};

class Pipeline {
 public:
  Pipeline(std::shared_ptr<const model::Model> m, std::shared_ptr<const model::Tokenizer> tok,
           EngineOptions opts);

  // Encodes documents into the in-memory bank (ids 0, 1, ...); progress callback per batch.
  void add_documents(const std::vector<std::string>& texts,
                     const std::function<void(size_t done, size_t total)>& progress = {});
  const memory::InMemoryBank& bank() const { return *bank_; }

  Answer ask(const std::string& question, const GenerateOptions& g,
             const std::function<void(const std::string&)>& on_text = {}) const;

 private:
  std::shared_ptr<const model::Model> m_;
  std::shared_ptr<const model::Tokenizer> tok_;
  EngineOptions opts_;
  std::unique_ptr<memory::InMemoryBank> bank_;
};

}  // namespace msa::engine
