#include "eval/question_memory.h"

#include <algorithm>

namespace msa::eval {

std::vector<memory::DocScore> QuestionMemory::route(int slot, const memory::RoutingQuery& q) const {
  if (replaced_.empty()) return base_.route(slot, q);
  memory::RoutingQuery wide = q;
  wide.k = q.k + int64_t(replaced_.size());
  std::vector<memory::DocScore> out;
  for (const auto& s : base_.route(slot, wide))
    if (!replaced_.count(s.doc)) out.push_back(s);
  memory::RoutingQuery all = q;
  all.k = fillers_.num_docs();
  const auto filler_scores = fillers_.route(slot, all);
  for (const auto& [doc, idx] : replaced_)
    for (const auto& s : filler_scores)
      if (s.doc == idx) out.push_back({doc, s.score});
  std::sort(out.begin(), out.end(), [](const memory::DocScore& a, const memory::DocScore& b) {
    return a.score != b.score ? a.score > b.score : a.doc < b.doc;
  });
  if (int64_t(out.size()) > q.k) out.resize(size_t(q.k));
  return out;
}

int64_t QuestionMemory::append_chunks(int slot, int64_t doc, std::vector<float>* k_out,
                                      std::vector<float>* v_out) const {
  auto it = replaced_.find(doc);
  return it == replaced_.end() ? base_.append_chunks(slot, doc, k_out, v_out)
                               : fillers_.append_chunks(slot, it->second, k_out, v_out);
}

}  // namespace msa::eval
