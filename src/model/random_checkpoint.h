// Writes a checkpoint directory with random weights (config.json +
// model.safetensors, or N shards + model.safetensors.index.json). Used by
// benchmarks (Qwen3-0.6B/4B shapes), tests and the random demo model; every
// such directory is labelled random in its config ("msa_random_weights").
#pragma once

#include <cstdint>
#include <string>

#include "core/dtype.h"
#include "model/config.h"

namespace msa::model {

struct RandomCheckpointOptions {
  DType dtype = DType::BF16;  // F32, BF16 or F16
  int shards = 1;
  uint64_t seed = 1;
  float init_std = 0.02f;
};

// Named shapes: "tiny" (golden-like test model), "0.6b", "4b" (Qwen3 shapes
// with MSA routing on the upper half, as MSA-4B).
ModelConfig preset_config(const std::string& name);

void write_random_checkpoint(const ModelConfig& cfg, const std::string& dir,
                             const RandomCheckpointOptions& opts);

}  // namespace msa::model
