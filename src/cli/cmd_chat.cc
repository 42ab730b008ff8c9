// msa chat --bank B: an interactive session over a bank; answers stream as
// they are generated. Every line is one question (MSA answers each from the
// memory); commands: /quit, /sources (provenance of the last answer).
// With a sharded bank under `mpirun -np N` rank 0 reads the questions and
// runs the model; the other ranks serve their shards (docs/memory-parallel.md).
#include <unistd.h>

#include <cstdio>
#include <iostream>

#include "cli/command.h"
#include "cli/product_common.h"
#include "cli/product_sharded.h"
#include "engine/answer_stream.h"
#include "engine/bank_service.h"

namespace {

int chat_loop(const msa::cli::Loaded& l, const msa::cli::ProductOptions& o, msa::engine::MemoryService& service) {
  const bool tty = isatty(0);
  if (l.random_weights) std::printf("NOTE: the model has RANDOM weights: answers are meaningless.\n");
  std::printf("msa chat: %lld documents. Ask a question; /sources shows the last answer's provenance, /quit ends.\n",
              (long long)service.stats().documents);
  std::optional<msa::engine::InterleaveResult> last;
  std::optional<msa::engine::MemorySnapshot> last_snap;
  std::string line;
  while (true) {
    if (tty) std::printf("\n> "), std::fflush(stdout);
    if (!std::getline(std::cin, line)) break;
    if (line == "/quit" || line == "/exit") break;
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    if (line == "/sources") {
      if (last) msa::cli::print_answer_report(*last, *last_snap, false);
      else std::printf("no answer yet\n");
      continue;
    }
    // A fresh snapshot per question: documents added meanwhile are visible.
    auto snap = service.snapshot(o.namespaces.empty() ? std::vector<std::string>{"*"} : o.namespaces);
    msa::engine::InterleaveCallbacks cb;
    msa::engine::AnswerStream answer;  // streams the answer alone, as msa serve does
    bool streamed = false;
    cb.on_round_start = [&](int round) {
      if (round > 0 && tty) std::fprintf(stderr, "  (retrieval round %d)\n", round + 1);
    };
    auto print = [&](const std::string& s) {
      if (s.empty()) return;
      if (!streamed) std::fputs("answer: ", stdout);
      streamed = true;
      std::fputs(s.c_str(), stdout);
      std::fflush(stdout);
    };
    cb.on_text = [&](const std::string& piece, bool answering) {
      if (answering) print(answer.push(piece));
    };
    auto r = msa::engine::answer_with_interleave(l.model, *l.tokenizer, *snap.view, snap.text, line, l.interleave, cb);
    print(answer.finish(r.answer));
    if (streamed) std::printf("\n");
    else std::printf("no answer (stopped by %s)\n", r.stop_reason.c_str());
    std::printf("  sources:");
    for (int64_t id : r.cited_doc_ids) std::printf(" [%lld]", (long long)id);
    std::printf("\n");
    last = std::move(r);
    last_snap = snap;
  }
  return 0;
}

int chat(int argc, char** argv) {
  CLI::App app{"Interactive questions over a memory bank, streaming answers."};
  msa::cli::ProductOptions o;
  o.add_to(app);
  msa::cli::ShardOptions so;
  so.add_to(app);
  CLI11_PARSE(app, argc, argv);
  if (msa::distributed::is_sharded_bank(o.bank_dir))
    return msa::cli::run_sharded("chat", o, so, /*writer=*/false,
                                 [&](msa::cli::ShardedProduct& p) { return chat_loop(p.loaded, o, p.service); });
  auto l = msa::cli::load_product(o, /*writer=*/false);
  msa::engine::BankService service(l.bank);
  return chat_loop(l, o, service);
}

}  // namespace

MSA_COMMAND("chat", "interactive questions over a memory bank, streaming answers", chat);
