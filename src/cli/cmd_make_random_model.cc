// msa make-random-model --preset tiny|0.6b|4b --out DIR [--dtype bf16] [--shards N]
#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>

#include "cli/command.h"
#include "core/error.h"
#include "core/timer.h"
#include "model/random_checkpoint.h"

namespace {

int run(int argc, char** argv) {
  CLI::App app{"Write a checkpoint directory with RANDOM weights (for benchmarks and tests; it "
               "answers nothing meaningfully)."};
  std::string preset = "tiny", out, dtype = "bf16";
  int shards = 1;
  uint64_t seed = 1;
  int64_t vocab = 0;
  std::string tokenizer;
  app.add_option("--preset", preset, "tiny | 0.6b | 4b (Qwen3 shapes, MSA routing on the upper half)");
  app.add_option("--out,-o", out, "output directory")->required();
  app.add_option("--dtype", dtype, "f32 | bf16 | f16");
  app.add_option("--shards", shards, "number of safetensors shards (>1 writes an index)");
  app.add_option("--seed", seed, "random seed");
  app.add_option("--vocab", vocab, "override the vocabulary size");
  app.add_option("--tokenizer", tokenizer, "copy this tokenizer.json into the model directory");
  CLI11_PARSE(app, argc, argv);
  msa::model::RandomCheckpointOptions o;
  o.shards = shards;
  o.seed = seed;
  if (dtype == "f32") o.dtype = msa::DType::F32;
  else if (dtype == "bf16") o.dtype = msa::DType::BF16;
  else if (dtype == "f16") o.dtype = msa::DType::F16;
  else msa::throw_error("unknown --dtype '{}' (f32, bf16 or f16)", dtype);
  msa::Timer t;
  auto cfg = msa::model::preset_config(preset);
  if (vocab > 0) cfg.vocab_size = vocab;
  msa::model::write_random_checkpoint(cfg, out, o);
  if (!tokenizer.empty())
    std::filesystem::copy_file(tokenizer, std::filesystem::path(out) / "tokenizer.json",
                               std::filesystem::copy_options::overwrite_existing);
  std::printf("wrote random %s checkpoint (%s, %d shard%s) to %s in %.1f s\n", preset.c_str(),
              dtype.c_str(), shards, shards > 1 ? "s" : "", out.c_str(), t.seconds());
  return 0;
}

}  // namespace

MSA_COMMAND("make-random-model", "write a checkpoint with random weights (benchmarks, tests)", run);
