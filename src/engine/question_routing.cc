#include "engine/question_routing.h"

#include <algorithm>
#include <map>

#include "core/timer.h"
#include "engine/pipeline.h"
#include "model/prompt_format.h"

namespace msa::engine {
namespace {

// Passes the session's own top-k through unchanged and keeps, per routing
// slot, a longer ranking computed with the same query in the same scan.
class RankingView : public memory::MemoryView {
 public:
  RankingView(const memory::MemoryView& inner, int64_t rank_k) : inner_(inner), rank_k_(rank_k) {}
  const memory::TemplateKV& template_kv() const override { return inner_.template_kv(); }
  int64_t num_docs() const override { return inner_.num_docs(); }
  std::vector<memory::DocScore> route(int slot, const memory::RoutingQuery& q) const override {
    memory::RoutingQuery wide = q;
    wide.k = std::max(q.k, rank_k_ > 0 ? rank_k_ : inner_.num_docs());
    Timer t;
    auto ranked = inner_.route(slot, wide);
    times_[slot] = t.ms();
    std::vector<memory::DocScore> top(ranked.begin(), ranked.begin() + std::min<ptrdiff_t>(ptrdiff_t(q.k), ptrdiff_t(ranked.size())));
    if (rank_k_ > 0 && int64_t(ranked.size()) > rank_k_) ranked.resize(size_t(rank_k_));
    rankings_[slot] = std::move(ranked);
    return top;
  }
  int64_t append_chunks(int slot, int64_t doc, std::vector<float>* k_out, std::vector<float>* v_out) const override {
    return inner_.append_chunks(slot, doc, k_out, v_out);
  }
  mutable std::map<int, std::vector<memory::DocScore>> rankings_;  // one Session, one thread
  mutable std::map<int, double> times_;

 private:
  const memory::MemoryView& inner_;
  int64_t rank_k_;
};

}  // namespace

std::vector<LayerRanking> rank_question(std::shared_ptr<const model::Model> m, const model::Tokenizer& tok,
                                        const memory::MemoryView& memory, const std::string& question,
                                        const EngineOptions& opts, int64_t rank_k) {
  RankingView view(memory, rank_k);
  // The first round of answer_with_interleave: an untrusted question, special-token text stays text.
  const model::TaggedIds row = model::first_round_row(tok, question, /*parse_special=*/false);
  const auto positions = first_round_positions(row.ids.size(), opts.top_k, memory.template_kv().num_tokens);
  Session s(m, &view, opts);
  std::vector<float> logits;
  s.prefill(row.ids, row.tags, positions, &logits);
  const auto& layers = m->config().msa.routing_layers;
  std::vector<LayerRanking> out;
  for (size_t slot = 0; slot < layers.size(); ++slot) {
    LayerRanking r;
    r.layer = int(layers[slot]);
    if (auto it = view.rankings_.find(int(slot)); it != view.rankings_.end()) r.ranked = it->second;
    if (auto it = view.times_.find(int(slot)); it != view.times_.end()) r.route_ms = it->second;
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace msa::engine
