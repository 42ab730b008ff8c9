#include "cli/product_sharded.h"

#include <cstdio>
#include <memory>

#include "model/default_model.h"

namespace msa::cli {

void ShardOptions::add_to(CLI::App& app) {
  app.add_option("--mpi-timeout", timeout_s, "sharded bank: seconds any rank may take to answer")
      ->check(CLI::Range(0.1, 86400.0));
  app.add_flag("--allow-missing-shards", allow_missing,
               "sharded bank: answer without shards that fail to open (answers name them)");
}

int run_sharded(const char* cmd, ProductOptions o, const ShardOptions& so, bool writer,
                const std::function<int(ShardedProduct&)>& rank0) {
  namespace dist = msa::distributed;
  const std::string dir = o.bank_dir;
  const auto manifest = dist::read_shard_manifest(dir);
  dist::Comm comm;
  if (comm.rank() != 0) {
    // A writer shard encodes new documents with the model recorded in it,
    // loaded at the first write and checked against the shard's model identity.
    memory::BankOpenOptions bo;
    bo.writer = writer;
    dist::serve_shards(comm, dist::open_local_shards(dir, manifest, comm.rank(), comm.size(), bo), so.timeout_s);
    return 0;
  }
  std::unique_ptr<dist::ShardedMemory> mem;
  try {
    o.bank_dir.clear();
    auto l = load_product(o, /*writer=*/false);
    memory::BankOpenOptions bo;  // rank 0 checks its shards against the model
    bo.writer = writer;
    bo.model = l.model;
    bo.model_dir = model::resolve_model_dir(o.model_dir).string();
    bo.tokenizer = l.tokenizer;
    dist::ShardOpenOptions opt;
    opt.bank = bo;
    opt.allow_missing = so.allow_missing;
    opt.timeout_s = so.timeout_s;
    mem = std::make_unique<dist::ShardedMemory>(comm, dist::open_local_shards(dir, manifest, 0, comm.size(), bo),
                                                opt);
    dist::ShardedService service(*mem);
    ShardedProduct p{l, *mem, service};
    const int rc = rank0(p);
    std::fflush(stdout);
    mem->shutdown();
    return rc;
  } catch (const std::exception& e) {
    if (comm.broken) {  // a rank missed a deadline: an orderly MPI shutdown would wait for it
      std::fprintf(stderr, "msa %s: error: %s\n", cmd, e.what());
      std::fflush(stdout);
      comm.abort(1);
    }
    if (mem) mem->shutdown();
    else dist::stop_workers(comm);
    throw;
  }
}

}  // namespace msa::cli
