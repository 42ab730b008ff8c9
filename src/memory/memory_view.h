// The read interface stage 2 (routing + context assembly) needs from a memory
// bank, whatever its storage: an in-memory bank (conformance, tests), the
// persistent tiered bank, or a sharded (MPI) bank.
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/routing_score.h"
#include "memory/encoded_memory.h"

namespace msa::memory {

struct DocScore {
  int64_t doc = -1;  // model-sense document id: the [i] in the prompt
  float score = 0.f;
};

// Routing queries of one question for one routing layer, already normalised or
// scaled by the score rule (spec §4.4): u[t, h, :] for the Tr routing tokens.
struct RoutingQuery {
  const float* u = nullptr;
  int64_t Tr = 0;
  int64_t Hq = 0;
  int64_t d = 0;
  kernels::HeadReduce head_reduce = kernels::HeadReduce::Mean;
  kernels::QueryReduce query_reduce = kernels::QueryReduce::Max;
  kernels::ChunkReduce chunk_reduce = kernels::ChunkReduce::Max;
  int64_t k = 16;
};

class MemoryView {
 public:
  virtual ~MemoryView() = default;

  virtual const TemplateKV& template_kv() const = 0;
  virtual int64_t num_docs() const = 0;  // documents visible to this view

  // Top-k visible documents for routing slot `slot`, best first
  // (ties: lower document id first).
  virtual std::vector<DocScore> route(int slot, const RoutingQuery& q) const = 0;

  // Appends document `doc`'s pooled K and V chunks of slot `slot` to k_out /
  // v_out as rows of Hkv*d floats; returns the number of chunks appended.
  virtual int64_t append_chunks(int slot, int64_t doc, std::vector<float>* k_out,
                                std::vector<float>* v_out) const = 0;
};

}  // namespace msa::memory
