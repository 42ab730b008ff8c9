// msa eval [--model M] --task T --sizes 16k,64k,1m --questions Q --seed S [--plot F.png] [--csv F]
// Accuracy and routing recall of a model on a generated task as the memory
// grows (docs/eval.md). Prints a table, then "metric: name = value" lines.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <string>

#include "cli/command.h"
#include "core/error.h"
#include "data/task_io.h"
#include "data/tasks.h"
#include "eval/evaluator.h"
#include "model/default_model.h"

namespace {

std::vector<int64_t> parse_sizes(const std::string& list) {
  std::vector<int64_t> out;
  size_t at = 0;
  while (at <= list.size()) {
    size_t comma = list.find(',', at);
    std::string item = list.substr(at, comma == std::string::npos ? std::string::npos : comma - at);
    if (!item.empty()) out.push_back(msa::data::parse_token_count(item));
    if (comma == std::string::npos) break;
    at = comma + 1;
  }
  MSA_CHECK(!out.empty(), "--sizes \"{}\" names no size", list);
  return out;
}

int eval(int argc, char** argv) {
  CLI::App app{"Evaluate a model on a generated task (NIAH variants, hop2/hop3, kb) at several memory sizes."};
  std::string model, task = "niah", sizes = "16k,64k,256k,1m", plot, csv, answers;
  msa::eval::EvalOptions o;
  bool no_ablations = false;
  app.add_option("--model,-m", model, "model directory (default: the embedded models/msa-tiny)");
  app.add_option("--task", task, "niah | niah-multikey | niah-multivalue | niah-multiquery | hop2 | hop3 | kb")
      ->capture_default_str();
  app.add_option("--sizes", sizes, "memory sizes in text tokens, comma-separated (16k = 16384, 1m = 1048576)")
      ->capture_default_str();
  app.add_option("--questions,-q", o.questions, "questions per size")->capture_default_str();
  app.add_option("--seed", o.seed, "task seed")->capture_default_str();
  app.add_option("--top-k,-k", o.top_k, "documents per routing layer (default: the model's)");
  app.add_option("--max-round-tokens", o.max_round_tokens, "generated tokens per interleave call")
      ->capture_default_str();
  app.add_option("--max-total-tokens", o.max_total_tokens, "generated tokens per question")->capture_default_str();
  app.add_option("--evidence-slots", o.evidence_slot_limit,
                 "needle documents only in the first N slots (gold ids of at most log10(N) digits at every size)")
      ->capture_default_str();
  app.add_flag("--shared-memory", o.shared_memory,
               "one memory holds every question's needles (default: each question's haystack has only its own; always on for kb)");
  app.add_option("--long-documents", o.long_documents,
                 "add N long filler documents (200-400 words) to every memory: does routing prefer long documents?")
      ->capture_default_str();
  app.add_option("--show", o.show_transcripts, "print the transcripts of the first N questions per size (stderr)");
  app.add_flag("--no-ablations", no_ablations, "hop tasks: skip the single-round and no-text runs");
  app.add_option("--plot", plot, "write accuracy/recall vs memory size as a PNG");
  app.add_option("--csv", csv, "write the table as CSV");
  app.add_option("--answers", answers, "write every question's prediction, reference and score as JSONL");
  std::string bank_path = "in-memory";
  app.add_option("--bank-path", bank_path,
                 "memory routed over: in-memory (f32 keys and K/V, the reference's numerics) | persistent (a bank as "
                 "`msa ask`/`msa serve` read it: bf16 keys and K/V); printed with every result")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  o.model_dir = msa::model::resolve_model_dir(model);
  o.task = msa::data::parse_task(task);
  o.sizes = parse_sizes(sizes);
  o.ablations = !no_ablations;
  o.bank_path = msa::eval::parse_bank_path(bank_path);
  o.log = [](const std::string& line) {
    std::fprintf(stderr, "%s\n", line.c_str());
    std::fflush(stderr);
  };
  const msa::eval::EvalReport r = msa::eval::run_eval(o);
  std::fputs(msa::eval::format_table(r).c_str(), stdout);
  if (!answers.empty()) {
    msa::data::write_file_atomically(answers, msa::eval::format_answers_jsonl(r));
    std::printf("answers: %s\n", answers.c_str());
  }
  if (!csv.empty()) {
    msa::data::write_file_atomically(csv, msa::eval::format_csv(r));
    std::printf("csv: %s\n", csv.c_str());
  }
  if (!plot.empty()) {
    msa::data::write_file_atomically(plot, msa::eval::encode_png(msa::eval::render_plot(msa::eval::make_plot(r))));
    std::printf("plot: %s\n", plot.c_str());
  }
  std::fputs(msa::eval::format_metrics(r).c_str(), stdout);
  return 0;
}

}  // namespace

MSA_COMMAND("eval", "accuracy and routing recall vs memory size on a generated task (table, metrics, CSV, PNG)", eval);
