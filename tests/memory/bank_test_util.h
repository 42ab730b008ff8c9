// Shared helpers of the bank tests: a random tiny MSA checkpoint with the real
// Qwen3 tokenizer (cached per process), temp directories and random documents.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include <unistd.h>

#include "model/random_checkpoint.h"

namespace bank_test {

namespace fs = std::filesystem;

inline std::string qwen_tokenizer() { return std::string(MSA_SOURCE_DIR) + "/.cache/tokenizers/qwen3/tokenizer.json"; }

inline fs::path temp_dir(const std::string& tag) {
  const fs::path p = fs::temp_directory_path() / ("msa_bank_" + std::to_string(::getpid()) + "_" + tag);
  fs::remove_all(p);
  return p;
}

// hidden 64, `layers` layers, routing on the upper half, P = 4, Qwen3 vocabulary.
inline std::string tiny_model(const std::string& tag = "m", int layers = 2, uint64_t seed = 5) {
  const fs::path dir = temp_dir("model_" + tag);
  auto cfg = msa::model::preset_config("tiny");
  cfg.vocab_size = 151669;
  cfg.num_hidden_layers = layers;
  cfg.msa.router_layer_idx = layers == 2 ? "1" : "2,3";
  cfg.msa.routing_layers = layers == 2 ? std::vector<int>{1} : std::vector<int>{2, 3};
  msa::model::write_random_checkpoint(cfg, dir.string(), {msa::DType::BF16, 1, seed, 0.2f});
  fs::copy_file(qwen_tokenizer(), dir / "tokenizer.json", fs::copy_options::overwrite_existing);
  return dir.string();
}

inline std::string random_text(std::mt19937_64& r, int min_words = 3, int max_words = 40) {
  static const char* words[] = {"river", "lamp", "quantum", "Paris", "falcon", "silver", "1881", "bridge",
                                "market", "library", "ocean", "seven", "guild", "records", "tower", "harbor"};
  std::string s;
  const int n = min_words + int(r() % uint64_t(max_words - min_words + 1));
  for (int i = 0; i < n; ++i) s += std::string(i ? " " : "") + words[r() % 16];
  return s + ".";
}

#define REQUIRE_TOKENIZER()                                                                        \
  do {                                                                                             \
    if (!std::filesystem::exists(bank_test::qwen_tokenizer()))                                     \
      GTEST_SKIP() << "Qwen3 tokenizer not fetched: run scripts/fetch_tokenizer.sh";              \
  } while (0)

}  // namespace bank_test
