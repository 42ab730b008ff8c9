// `msa ask|chat|serve --bank <sharded bank>` (docs/memory-parallel.md): under
// `mpirun -np N` rank 0 loads the model and runs the command over a
// MemoryService spanning every shard; ranks ≥ 1 only serve their shards.
// Without mpirun one process opens every shard.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <string>
#include <vector>

#include "cli/product_common.h"
#include "distributed/sharded_memory.h"
#include "distributed/sharded_service.h"

namespace msa::cli {

struct ShardOptions {
  double timeout_s = 120;
  bool allow_missing = false;
  void add_to(CLI::App& app);
};

// Rank 0's part: the loaded model, the sharded memory and a service over it.
struct ShardedProduct {
  const Loaded& loaded;
  distributed::ShardedMemory& memory;
  distributed::ShardedService& service;
};

// writer: every rank opens its shards as their writer (serve's write API).
// Returns the exit code (ranks ≥ 1: 0 once rank 0 stopped them).
int run_sharded(const char* cmd, ProductOptions o, const ShardOptions& so, bool writer,
                const std::function<int(ShardedProduct&)>& rank0);

}  // namespace msa::cli
