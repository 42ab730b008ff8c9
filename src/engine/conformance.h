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

// Which memory path stage 2 reads. InMemoryF32 is the reference's exact path
// (f32 keys and K/V). The bank modes build a persistent bank from the set's
// token ids and route over it as `msa ask` / `msa serve` do: bf16 content K/V
// and bf16 or int8 routing keys. They produce the tensors that path decides —
// routing.*.topk_doc_ids / topk_scores / context_chunk_ids / query,
// prefill.logits, decode.* — and leave out stage-1 tensors (memory.*) and the
// f32 score tables (chunk_scores, doc_scores), which the bank path does not compute.
enum class ConformanceMemory { InMemoryF32, BankBF16, BankInt8 };
const char* conformance_memory_name(ConformanceMemory m);  // "in-memory-f32" | "bank-bf16" | "bank-int8"
ConformanceMemory parse_conformance_memory(const std::string& name);

struct ConformanceOptions {
  ConformanceMemory memory = ConformanceMemory::InMemoryF32;
  std::string work_dir;  // bank modes: where the temporary bank goes (default: the system temp dir)
};

ConformanceResult run_conformance(const std::string& set_dir, const ConformanceOptions& o = {});

// Writes the result as safetensors.
void write_conformance_output(const ConformanceResult& r, const std::string& path);

}  // namespace msa::engine
