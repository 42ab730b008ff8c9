// Shared by `msa ask`, `msa chat` and `msa serve`: load the model (embedded
// default when --model is omitted), its tokenizer and a bank, and print an
// answer's provenance for humans.
#pragma once

#include <CLI/CLI.hpp>
#include <memory>
#include <string>
#include <vector>

#include "engine/interleave.h"
#include "engine/memory_service.h"
#include "engine/product.h"
#include "memory/bank.h"
#include "model/model.h"
#include "model/tokenizer.h"

namespace msa::cli {

struct ProductOptions {
  std::string bank_dir, model_dir;
  std::vector<std::string> namespaces;  // empty: all
  // Defaults shared with every product surface (engine/product.h).
  int64_t top_k = engine::AskOptions{}.top_k;
  int rounds = engine::AskOptions{}.rounds;
  int64_t max_tokens = engine::AskOptions{}.max_tokens;
  float temperature = engine::AskOptions{}.temperature;
  bool no_interleave = !engine::AskOptions{}.interleave;
  void add_to(CLI::App& app, bool bank_required = true);
};

struct Loaded {
  std::shared_ptr<const model::Model> model;
  std::shared_ptr<const model::Tokenizer> tokenizer;
  std::shared_ptr<memory::Bank> bank;
  engine::InterleaveOptions interleave;
  bool random_weights = false;
};

// writer: open the bank as its single writer (serve's write API).
Loaded load_product(const ProductOptions& o, bool writer);

// Human-readable answer + provenance (rounds, selected docs per layer, citations).
void print_answer_report(const engine::InterleaveResult& r, const engine::MemorySnapshot& snap, bool show_answer);

}  // namespace msa::cli
