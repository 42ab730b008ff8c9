// bench_serve --soak (issue 16): mixed reads and writes against `msa serve`
// over loopback for a long time; reports RSS at start, after warm-up and at
// the end, errors, and latency p50/p99 per operation.
#pragma once

#include <filesystem>
#include <memory>

#include "model/model.h"
#include "model/tokenizer.h"

namespace msa::bench {

int soak(std::shared_ptr<const msa::model::Model> m, std::shared_ptr<const msa::model::Tokenizer> tok,
         const std::filesystem::path& model_dir, double minutes, int clients);

}  // namespace msa::bench
