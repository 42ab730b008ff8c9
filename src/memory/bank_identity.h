// Model identity of a memory bank: what must match for a bank to be opened
// with a model (docs/bank-format.md §Model identity). Kept cheap for 8 GB
// checkpoints: xxh64 of config.json and tokenizer.json (small files), and for
// the weights a fingerprint of every *.safetensors file — its size, its whole
// JSON header (names, dtypes, shapes, offsets) and 64 samples of 4 KiB spread
// evenly over the tensor data. Open time is milliseconds regardless of size;
// a same-shaped checkpoint that differs only outside the sampled bytes is not
// detected (documented trade-off; `msa bank verify --full-model` is not offered).
#pragma once

#include <string>

#include "memory/bank_manifest.h"
#include "model/model.h"

namespace msa::memory {

ModelIdentity model_identity(const model::Model& m);

// Throws msa::Error explaining which part differs.
void check_same_model(const ModelIdentity& bank, const ModelIdentity& given, const std::string& bank_dir);

}  // namespace msa::memory
