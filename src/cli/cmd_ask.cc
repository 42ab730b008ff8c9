// msa ask --bank B [--model M] [--json] [--namespace NS]... "question"
// The full MSA pipeline with Memory Interleave over a persistent bank, with provenance.
// Exit status: 0 answered, 3 no answer, 1 error (an empty question included).
// Under `mpirun -np N` with a sharded bank (msa bank split) rank 0 runs the
// model and prints exactly the single-process output; the other ranks serve
// their shards (memory parallel, docs/memory-parallel.md).
#include <cstdio>

#include "cli/command.h"
#include "cli/product_common.h"
#include "cli/product_sharded.h"
#include "engine/answer_report.h"
#include "core/error.h"
#include "engine/bank_service.h"

namespace {

std::vector<std::string> read_namespaces(const msa::cli::ProductOptions& o) {
  return o.namespaces.empty() ? std::vector<std::string>{"*"} : o.namespaces;
}

// Exit status when the model gave no answer (docs/usage.md): distinct from
// 1 (an error) so scripts can tell "no answer" from "could not ask".
constexpr int kNoAnswerExit = 3;

int answer(const msa::cli::Loaded& l, const msa::engine::MemorySnapshot& snap, const std::string& question,
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
  if (r.answer.empty()) {
    std::fprintf(stderr, "msa ask: no answer (stopped by %s)\n", r.stop_reason.c_str());
    return kNoAnswerExit;
  }
  return 0;
}

int ask(int argc, char** argv) {
  CLI::App app{"Answer a question from a memory bank (Memory Interleave), with provenance."};
  msa::cli::ProductOptions o;
  o.add_to(app);
  std::string question;
  bool json = false;
  msa::cli::ShardOptions so;
  app.add_option("question", question, "the question")->required();
  app.add_flag("--json", json, "one JSON object: answer, rounds, citations, tokens, timings_ms");
  so.add_to(app);
  CLI11_PARSE(app, argc, argv);
  MSA_CHECK(question.find_first_not_of(" \t\r\n") != std::string::npos, "the question is empty");
  if (msa::distributed::is_sharded_bank(o.bank_dir))
    return msa::cli::run_sharded("ask", o, so, /*writer=*/false, [&](msa::cli::ShardedProduct& p) {
      return answer(p.loaded, p.service.snapshot(read_namespaces(o)), question, json, p.memory.missing());
    });
  auto l = msa::cli::load_product(o, /*writer=*/false);
  msa::engine::BankService service(l.bank);
  const auto snap = service.snapshot(read_namespaces(o));
  return answer(l, snap, question, json, {});
}

}  // namespace

MSA_COMMAND("ask", "answer a question from a memory bank, with Memory Interleave and citations", ask);
