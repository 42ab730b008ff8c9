// msa gen-data --task T --memory-tokens N --questions Q --seed S --out DIR
// Writes a synthetic evaluation memory and its questions (docs/tasks.md):
// DIR/docs.jsonl ({"id","text"}) and DIR/questions.jsonl
// ({"question","answer","gold_doc_ids"}), each atomically.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <string>

#include "cli/command.h"
#include "data/task_io.h"
#include "data/tasks.h"

namespace {

int gen_data(int argc, char** argv) {
  CLI::App app{"Generate a synthetic MSA task (RULER-style NIAH variants, 2-/3-hop chains) as JSONL."};
  std::string task = "niah", size = "16k", out;
  int64_t questions = 100;
  uint64_t seed = 0;
  app.add_option("--task", task, "niah | niah-multikey | niah-multivalue | niah-multiquery | hop2 | hop3 | kb")
      ->capture_default_str();
  app.add_option("--memory-tokens", size, "memory size in text tokens: 16384, 64k, 1m, ...")->capture_default_str();
  app.add_option("--questions,-q", questions, "number of questions")->capture_default_str();
  app.add_option("--seed", seed, "random seed (same seed, same files)")->capture_default_str();
  app.add_option("--out", out, "output directory")->required();
  int64_t evidence_slots = 0;
  app.add_option("--evidence-slots", evidence_slots,
                 "put needle documents only in the first N slots (short gold ids at any memory size); 0 = anywhere")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  msa::data::TaskOptions opts;
  opts.task = msa::data::parse_task(task);
  opts.memory_tokens = msa::data::parse_token_count(size);
  opts.num_questions = questions;
  opts.seed = seed;
  opts.evidence_slot_limit = evidence_slots;
  msa::data::TaskSet set = msa::data::generate_task(opts);
  msa::data::write_task_set(set, out);
  int64_t tokens = 0;
  for (const auto& d : set.docs) tokens += msa::data::memory_document_tokens(d.id, d.text);
  std::printf("gen-data: task %s, %zu documents (%lld memory text tokens, %zu %s), %zu questions, "
              "seed %llu -> %s/{docs,questions}.jsonl\n",
              std::string(msa::data::task_name(opts.task)).c_str(), set.docs.size(), static_cast<long long>(tokens),
              set.evidence_doc_ids.size(),
              opts.task == msa::data::Task::kKb ? "of them gold documents of the questions" : "needle documents",
              set.questions.size(), static_cast<unsigned long long>(seed), out.c_str());
  return 0;
}

}  // namespace

MSA_COMMAND("gen-data", "generate a synthetic task (NIAH variants, multi-hop) as docs/questions JSONL", gen_data);
