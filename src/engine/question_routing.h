// How a question routes over a memory, for evaluating routers (the Python
// package's msa.route): the first-round question row (spec §4.1) is prefilled
// exactly as the first round of `ask` prefills it — every routing layer
// selects its top-k, which that layer and the layers above then attend to —
// and each routing layer also ranks up to `rank_k` visible documents with the
// very queries it routed with. The first top-k entries of a layer's ranking
// are the documents `ask` selects there in round 1.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/session.h"
#include "memory/memory_view.h"
#include "model/model.h"
#include "model/tokenizer.h"

namespace msa::engine {

struct LayerRanking {
  int layer = -1;
  std::vector<memory::DocScore> ranked;  // best first (ties: lower document id first)
  double route_ms = 0;
};

// rank_k <= 0: every visible document. One entry per routing layer, in layer order.
std::vector<LayerRanking> rank_question(std::shared_ptr<const model::Model> m, const model::Tokenizer& tok,
                                        const memory::MemoryView& memory, const std::string& question,
                                        const EngineOptions& opts, int64_t rank_k);

}  // namespace msa::engine
