// A random-weight tiny MSA model with the shipped tiny tokenizer, for product
// tests that check plumbing (not answer quality).
#pragma once

#include <unistd.h>

#include <filesystem>
#include <string>

#include "model/random_checkpoint.h"
#include "model/tokenizer.h"

namespace msa::test_util {

inline std::filesystem::path random_tiny_model_dir(const std::string& tag) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("msa_product_" + std::to_string(::getpid()) + "_" + tag);
  const fs::path tok = fs::path(MSA_SOURCE_DIR) / "models" / "msa-tiny" / "tokenizer.json";
  auto t = model::Tokenizer::load(tok.string());
  auto cfg = model::preset_config("tiny");
  cfg.vocab_size = int64_t(t.vocab_size());
  cfg.eos_token_ids = {t.token_to_id("<|im_end|>")};
  model::write_random_checkpoint(cfg, dir.string(), {DType::F32, 1, 7, 0.2f});
  fs::copy_file(tok, dir / "tokenizer.json", fs::copy_options::overwrite_existing);
  return dir;
}

}  // namespace msa::test_util
