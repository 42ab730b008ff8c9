// msa train --config FILE.json [--resume] [--out DIR] [--max-minutes M] [--max-steps N] [--threads T]
// Trains an MSA model from scratch on the synthetic tasks (docs/training.md).
#include <CLI/CLI.hpp>
#include <cstdio>

#include "cli/command.h"
#include "core/error.h"
#include "train/trainer.h"

namespace {

int cmd_train(int argc, char** argv) {
  CLI::App app{"Train a tiny MSA model (docs/training.md)", "msa train"};
  std::string config, out;
  bool resume = false;
  double max_minutes = 0;
  int max_steps = -1, threads = 0;
  app.add_option("--config", config, "training config JSON (see configs/train-tiny.json, docs/training.md)")->required();
  app.add_flag("--resume", resume, "continue from the checkpoint in the output directory");
  app.add_option("--out", out, "output model directory (overrides out_dir)");
  app.add_option("--max-minutes", max_minutes, "stop (and checkpoint) after this many minutes");
  app.add_option("--max-steps", max_steps, "stop after this many steps in this invocation");
  app.add_option("--threads", threads, "worker threads (overrides the config)");
  CLI11_PARSE(app, argc, argv);
  msa::train::TrainConfig cfg = msa::train::load_train_config(config);
  if (!out.empty()) cfg.out_dir = out;
  if (threads > 0) cfg.threads = threads;
  msa::train::TrainRunOptions o;
  o.resume = resume;
  o.max_minutes = max_minutes;
  o.max_steps = max_steps;
  msa::train::run_training(cfg, o);
  return 0;
}

}  // namespace

MSA_COMMAND("train", "train a tiny MSA model from scratch (docs/training.md)", cmd_train);
