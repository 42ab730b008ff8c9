#include "cli/product_common.h"

#include <cstdio>

#include "engine/answer_report.h"
#include "engine/product.h"

namespace msa::cli {

void ProductOptions::add_to(CLI::App& app, bool bank_required) {
  auto* b = app.add_option("--bank,-b", bank_dir, "memory bank directory (msa bank create/add)");
  if (bank_required) b->required();
  app.add_option("--model,-m", model_dir, "model directory (default: the embedded tiny MSA model)");
  app.add_option("--namespace", namespaces, "namespace the question may read (repeatable; default: all)");
  app.add_option("--top-k,-k", top_k, "documents per routing layer (default: msa_config.doc_top_k or 16)");
  app.add_option("--rounds", rounds, "cap on retrieval rounds (Memory Interleave)")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  app.add_option("--max-tokens,-n", max_tokens, "cap on generated tokens over all rounds")
      ->check(CLI::Range(1, 65536))
      ->capture_default_str();
  app.add_option("--temperature", temperature, "0 = greedy (reference setting)")
      ->check(CLI::Range(0.0, 2.0))
      ->capture_default_str();
  app.add_flag("--single-round", no_interleave, "retrieve once, then answer (no multi-hop)");
}

Loaded load_product(const ProductOptions& o, bool writer) {
  const engine::LoadedModel m = engine::load_model(o.model_dir);
  Loaded l;
  l.model = m.model;
  l.tokenizer = m.tokenizer;
  l.random_weights = m.random_weights;
  if (!o.bank_dir.empty()) l.bank = memory::Bank::open(o.bank_dir, engine::bank_open_options(m, writer));
  l.interleave = engine::interleave_options(
      l.model->config(), {o.top_k, o.rounds, o.max_tokens, o.temperature, /*interleave=*/!o.no_interleave});
  return l;
}

void print_answer_report(const engine::InterleaveResult& r, const engine::MemorySnapshot& snap, bool show_answer) {
  if (show_answer) {
    if (r.answer.empty())
      std::printf("(no answer: the model did not write \"The answer to the question is:\"; stopped by %s)\n",
                  r.stop_reason.c_str());
    else
      std::printf("%s\n", r.answer.c_str());
  }
  for (size_t i = 0; i < r.rounds.size(); ++i) {
    const auto& round = r.rounds[i];
    std::printf("\n  round %zu: the model wrote ids [", i + 1);
    for (size_t j = 0; j < round.generated_doc_ids.size(); ++j)
      std::printf("%s%lld", j ? ", " : "", (long long)round.generated_doc_ids[j]);
    std::printf("]\n");
    for (const auto& l : round.routing) {
      std::printf("    layer %d selected:", l.layer);
      for (const auto& s : l.selected) std::printf(" [%lld] %.3f", (long long)s.doc, s.score);
      std::printf("\n");
    }
    if (!round.injected.empty()) {
      for (int64_t id : round.generated_doc_ids)
        if (auto t = snap.text(id)) std::printf("    injected [%lld]: %s\n", (long long)id, engine::snippet(*t, 100).c_str());
    }
  }
  std::printf("\n  citations:\n");
  for (int64_t id : r.cited_doc_ids)
    if (auto d = snap.info(id))
      std::printf("    [%lld]%s%s %s\n", (long long)id, d->external_id.empty() ? "" : " id=",
                  d->external_id.c_str(), engine::snippet(d->text, 100).c_str());
  const auto t = engine::stage_timings(r);
  std::printf("\n  %lld prompt tokens, %lld generated, %zu round(s), stop: %s; route %.1f ms, prefill %.1f ms, decode %.1f ms\n",
              (long long)r.prompt_tokens, (long long)r.generated_tokens, r.rounds.size(), r.stop_reason.c_str(),
              t.route_ms, t.prefill_ms, t.decode_ms);
}

}  // namespace msa::cli
