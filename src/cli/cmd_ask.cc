// msa ask --bank B [--model M] [--json] [--namespace NS]... "question"
// The full MSA pipeline with Memory Interleave over a persistent bank, with provenance.
// Under `mpirun -np N` with a sharded bank (msa bank split) rank 0 runs the
// model and prints exactly the single-process output; the other ranks serve
// their shards (memory parallel, docs/memory-parallel.md).
#include <cstdio>

#include "cli/command.h"
#include "cli/product_common.h"
#include "distributed/sharded_memory.h"
#include "engine/answer_report.h"
#include "engine/bank_service.h"
#include "model/default_model.h"

namespace {

struct ShardOptions {
  double timeout_s = 120;
  bool allow_missing = false;
};

std::vector<std::string> read_namespaces(const msa::cli::ProductOptions& o) {
  return o.namespaces.empty() ? std::vector<std::string>{"*"} : o.namespaces;
}

void answer(const msa::cli::Loaded& l, const msa::engine::MemorySnapshot& snap, const std::string& question,
            bool json, const std::vector<std::string>& missing_shards) {
  if (l.random_weights && !json) std::printf("NOTE: the model has RANDOM weights: answers are meaningless.\n");
  msa::engine::InterleaveCallbacks cb;
  auto r = msa::engine::answer_with_interleave(l.model, *l.tokenizer, *snap.view, snap.text, question, l.interleave, cb);
  if (json) {
    auto j = msa::engine::answer_to_json(r, snap.info);
    if (!missing_shards.empty()) j["missing_shards"] = missing_shards;  // degraded answer only
    std::printf("%s\n", j.dump().c_str());
  } else {
    msa::cli::print_answer_report(r, snap, /*show_answer=*/true);
    if (!missing_shards.empty()) {
      std::printf("\n  DEGRADED: answered without %zu shard(s):\n", missing_shards.size());
      for (auto& m : missing_shards) std::printf("    %s\n", m.c_str());
    }
  }
}

// Sharded bank: rank 0 answers, ranks ≥ 1 serve their shards.
int ask_sharded(msa::cli::ProductOptions o, const ShardOptions& so, const std::string& question, bool json) {
  namespace dist = msa::distributed;
  const std::string dir = o.bank_dir;
  const auto manifest = dist::read_shard_manifest(dir);
  dist::Comm comm;
  if (comm.rank() != 0) {
    dist::serve_shards(comm, dist::open_local_shards(dir, manifest, comm.rank(), comm.size(), {}), so.timeout_s);
    return 0;
  }
  std::unique_ptr<dist::ShardedMemory> mem;
  try {
    o.bank_dir.clear();
    auto l = msa::cli::load_product(o, /*writer=*/false);
    msa::memory::BankOpenOptions bo;  // rank 0 checks its shards against the model
    bo.model = l.model;
    bo.model_dir = msa::model::resolve_model_dir(o.model_dir).string();
    bo.tokenizer = l.tokenizer;
    dist::ShardOpenOptions opt{bo, so.allow_missing, so.timeout_s};
    mem = std::make_unique<dist::ShardedMemory>(
        comm, dist::open_local_shards(dir, manifest, 0, comm.size(), bo), opt);
    {
      const auto snap = mem->snapshot(read_namespaces(o));
      answer(l, snap, question, json, mem->missing());
    }
    std::fflush(stdout);
    mem->shutdown();
    return 0;
  } catch (const std::exception& e) {
    if (comm.broken) {  // a rank missed a deadline: an orderly MPI shutdown would wait for it
      std::fprintf(stderr, "msa ask: error: %s\n", e.what());
      std::fflush(stdout);
      comm.abort(1);
    }
    if (mem) mem->shutdown();
    else dist::stop_workers(comm);
    throw;
  }
}

int ask(int argc, char** argv) {
  CLI::App app{"Answer a question from a memory bank (Memory Interleave), with provenance."};
  msa::cli::ProductOptions o;
  o.add_to(app);
  std::string question;
  bool json = false;
  ShardOptions so;
  app.add_option("question", question, "the question")->required();
  app.add_flag("--json", json, "one JSON object: answer, rounds, citations, tokens, timings_ms");
  app.add_option("--mpi-timeout", so.timeout_s, "sharded bank: seconds any rank may take to answer")
      ->check(CLI::Range(0.1, 86400.0));
  app.add_flag("--allow-missing-shards", so.allow_missing,
               "sharded bank: answer without shards that fail to open (the answer names them)");
  CLI11_PARSE(app, argc, argv);
  if (msa::distributed::is_sharded_bank(o.bank_dir)) return ask_sharded(o, so, question, json);
  auto l = msa::cli::load_product(o, /*writer=*/false);
  msa::engine::BankService service(l.bank);
  const auto snap = service.snapshot(read_namespaces(o));
  answer(l, snap, question, json, {});
  return 0;
}

}  // namespace

MSA_COMMAND("ask", "answer a question from a memory bank, with Memory Interleave and citations", ask);
