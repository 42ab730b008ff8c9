// The training loop behind `msa train` (docs/training.md): JSON config,
// AdamW, cosine schedule with warm-up and floor, two-phase loss weights,
// memory-size curriculum, checkpoints (HF-style model dir + optimiser state,
// resumable), a per-step CSV log and a terminal progress line.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "model/config.h"
#include "train/rows.h"

namespace msa::train {

struct TrainConfig {
  // Model (defaults: docs/tiny-model-notes recipe).
  int64_t hidden_size = 128, num_layers = 4, num_attention_heads = 4, num_key_value_heads = 2, head_dim = 32,
          intermediate_size = 384, max_position_embeddings = 4096;
  float rope_theta = 10000.f;
  std::string routing_layers = "2,3";
  int pooling_kernel_size = 16, doc_top_k = 4;
  float init_std = 0.02f;
  std::string tokenizer = "models/msa-tiny/tokenizer.json";
  // Data.
  std::vector<TaskWeight> tasks;  // default: niah 0.4, niah-multikey 0.3, hop2 0.2, hop3 0.1
  int docs_start = 16, docs_end = 64, curriculum_steps = 1500;
  int max_id_digits = 3, memories_per_step = 8, questions_per_memory = 2;
  // Steps trained on sparse-needle memories before the mixed densities (data::NeedleDensity).
  int sparse_needle_steps = 0;
  bool rows_all_rounds = true;
  // Optimiser and schedule.
  int steps = 3000, warmup_steps = 30;
  float lr = 3e-3f, min_lr_ratio = 0.1f, weight_decay = 0.01f, beta1 = 0.9f, beta2 = 0.95f, grad_clip = 1.0f;
  // Losses: phase 1 (steps < aux_phase_steps) uses the warm-up weights.
  float tau = 0.1f, rec_weight = 1.0f;
  // > 0: smooth max (beta*logsumexp) over token x chunk scores in the aux loss (StepOptions::smooth_max).
  float smooth_max = 0.0f;
  // aux_loss_method written to config.json. "INFONCE" (default) makes inference
  // score with cosine, as training does; see docs/training.md.
  std::string checkpoint_aux_loss_method = "INFONCE";
  int aux_phase_steps = 100;
  float phase1_lm_weight = 0.1f, phase1_aux_weight = 1.0f, lm_weight = 1.0f, aux_weight = 0.1f;
  // Run.
  uint64_t seed = 0;
  int threads = 2, checkpoint_every = 200, log_every = 1;
  std::string out_dir = "runs/msa-tiny";
  // Non-empty: a fresh run starts from this model directory's weights (fine-tuning;
  // the architecture and tokenizer must match) instead of a random init.
  std::string init_from;

  model::ModelConfig model_config(int64_t vocab_size, int64_t eos_id) const;
};

TrainConfig parse_train_config(const std::string& json_text, const std::string& origin);
TrainConfig load_train_config(const std::string& path);

struct TrainRunOptions {
  bool resume = false;
  double max_minutes = 0;  // 0 = no limit
  int max_steps = -1;      // overrides cfg.steps for this invocation's stop (not the schedule)
  bool quiet = false;
};

struct TrainResult {
  int steps_done = 0;
  std::vector<double> losses;  // total loss per step run in this invocation
  std::vector<double> aux;     // aux (routing) loss per step
  std::vector<double> recall1;  // per step: routing recall@1 on the batch, mean over routing layers
  std::string model_dir;
};

TrainResult run_training(const TrainConfig& cfg, const TrainRunOptions& opts);

// Learning rate at `step` (0-based): linear warm-up, cosine to min_lr_ratio·lr.
float learning_rate(const TrainConfig& cfg, int step);
// Documents per memory at `step` (linear curriculum docs_start → docs_end).
int docs_per_memory(const TrainConfig& cfg, int step);

}  // namespace msa::train
