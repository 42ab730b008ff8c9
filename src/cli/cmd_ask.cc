// msa ask --bank B [--model M] [--json] [--namespace NS]... "question"
// The full MSA pipeline with Memory Interleave over a persistent bank, with provenance.
#include <cstdio>

#include "cli/command.h"
#include "cli/product_common.h"
#include "engine/answer_report.h"
#include "engine/bank_service.h"

namespace {

int ask(int argc, char** argv) {
  CLI::App app{"Answer a question from a memory bank (Memory Interleave), with provenance."};
  msa::cli::ProductOptions o;
  o.add_to(app);
  std::string question;
  bool json = false;
  app.add_option("question", question, "the question")->required();
  app.add_flag("--json", json, "one JSON object: answer, rounds, citations, tokens, timings_ms");
  CLI11_PARSE(app, argc, argv);
  auto l = msa::cli::load_product(o, /*writer=*/false);
  msa::engine::BankService service(l.bank);
  const auto snap = service.snapshot(o.namespaces.empty() ? std::vector<std::string>{"*"} : o.namespaces);
  if (l.random_weights && !json) std::printf("NOTE: the model has RANDOM weights: answers are meaningless.\n");
  msa::engine::InterleaveCallbacks cb;
  auto r = msa::engine::answer_with_interleave(l.model, *l.tokenizer, *snap.view, snap.text, question, l.interleave, cb);
  if (json) {
    std::printf("%s\n", msa::engine::answer_to_json(r, snap.info).dump().c_str());
  } else {
    msa::cli::print_answer_report(r, snap, /*show_answer=*/true);
  }
  return 0;
}

}  // namespace

MSA_COMMAND("ask", "answer a question from a memory bank, with Memory Interleave and citations", ask);
