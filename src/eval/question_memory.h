// The memory one evaluation question sees when questions do not share a
// haystack (RULER protocol: a sample's haystack holds only its own needles).
// The bank of a size holds every question's evidence documents at their
// slots; for one question, the evidence slots of the *other* questions show
// their filler document instead. Routing stays exact: the base top-(k + H)
// with the H hidden slots dropped, merged with the scores of their filler
// replacements (same tie rule: score desc, lower id first).
#pragma once

#include <cstdint>
#include <unordered_map>
#include <vector>

#include "memory/in_memory_bank.h"

namespace msa::eval {

class QuestionMemory : public memory::MemoryView {
 public:
  // replaced: slot id → index of its filler document in `fillers`.
  QuestionMemory(const memory::MemoryView& base, const memory::MemoryView& fillers,
                 std::unordered_map<int64_t, int64_t> replaced)
      : base_(base), fillers_(fillers), replaced_(std::move(replaced)) {}

  const memory::TemplateKV& template_kv() const override { return base_.template_kv(); }
  int64_t num_docs() const override { return base_.num_docs(); }
  std::vector<memory::DocScore> route(int slot, const memory::RoutingQuery& q) const override;
  int64_t append_chunks(int slot, int64_t doc, std::vector<float>* k_out, std::vector<float>* v_out) const override;

 private:
  const memory::MemoryView& base_;
  const memory::MemoryView& fillers_;
  std::unordered_map<int64_t, int64_t> replaced_;
};

}  // namespace msa::eval
