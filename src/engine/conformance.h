// Runs a golden conformance set (the format of shared/golden/set1: config.json,
// model.safetensors, inputs.json, expected.json) through the engine and
// returns every tensor expected.json names, computed from scratch (the
// expected values are never read).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/dtype.h"

namespace msa::engine {

struct OutputTensor {
  DType dtype = DType::F32;  // F32 or I64
  std::vector<int64_t> shape;
  std::vector<float> f32;
  std::vector<int64_t> i64;
};

struct ConformanceResult {
  std::map<std::string, OutputTensor> tensors;  // exactly the names expected.json lists
  std::vector<std::string> log;                 // human-readable summary lines
};

ConformanceResult run_conformance(const std::string& set_dir);

// Writes the result as safetensors.
void write_conformance_output(const ConformanceResult& r, const std::string& path);

}  // namespace msa::engine
