// msa bank split <bank> --shards N --out <dir>   /   msa bank merge <sharded> --out <bank>
// Sharded banks for memory parallel (src/distributed/sharded_bank.h,
// docs/memory-parallel.md). Reached through `msa bank` (cmd_bank.cc forwards
// these two sub-commands here).
#include <CLI/CLI.hpp>
#include <cstdio>

#include "distributed/sharded_bank.h"

namespace msa::cli {

int bank_shard_main(int argc, char** argv) {
  CLI::App app{"Sharded memory banks (memory parallel over MPI)."};
  app.require_subcommand(1);
  std::string src, out;
  int64_t shards = 2;
  auto* split = app.add_subcommand("split", "write a sharded bank: shard s holds the documents with id mod N == s");
  split->add_option("bank", src, "bank directory")->required();
  split->add_option("--shards,-n", shards, "number of shards (= mpirun -np)")->required()->check(CLI::Range(1, 4096));
  split->add_option("--out,-o", out, "output directory (new or empty)")->required();
  auto* merge = app.add_subcommand("merge", "merge a sharded bank back into one bank");
  merge->add_option("sharded", src, "sharded bank directory")->required();
  merge->add_option("--out,-o", out, "output bank directory (new or empty)")->required();
  CLI11_PARSE(app, argc, argv);
  if (split->parsed()) {
    const auto m = distributed::split_bank(src, out, shards);
    std::printf("split %s into %lld shards under %s (rule: doc_id mod %lld):\n", src.c_str(), (long long)m.num_shards,
                out.c_str(), (long long)m.num_shards);
    for (int64_t s = 0; s < m.num_shards; ++s)
      std::printf("  %s: %lld documents\n", m.shard_dirs[size_t(s)].c_str(), (long long)m.shard_documents[size_t(s)]);
    return 0;
  }
  distributed::merge_bank(src, out);
  std::printf("merged %s into %s\n", src.c_str(), out.c_str());
  return 0;
}

}  // namespace msa::cli
