// One MSA training step (spec §7.2, tiny-model-notes §2/§6): forward and
// hand-written backward of
//   * the template prefix "<|im_start|>user\n" (positions 0..2, its K/V are a
//     prefix of every row's context in every layer);
//   * the memory documents, each encoded alone (positions 0.., causal inside the
//     document), with K (after k-norm + RoPE), V and the router key pooled per
//     chunk of P tokens in routing layers;
//   * the prompt rows (positions 3+k+t): in a routing layer the tag-0 tokens
//     score every document (cosine, mean over heads, max over tokens, max over
//     chunks), the top-k documents are selected (no gradient through the
//     choice) and the row attends to [template ; their pooled chunks in
//     ascending document order ; causal row]; other layers see [template ; row].
// Losses: LM cross-entropy on the rows' target tokens, the doc-suffix id
// reconstruction CE on each document's trailing "id ] <|im_end|>", and the
// INFONCE_DECOUPLE aux loss per routing layer in the upper half and row.
// Memories (episodes) are independent given the parameters, so a step splits
// them over threads (thread-local gradients, fixed-order reduction: the result
// does not depend on the thread count).
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "train/ops.h"
#include "train/params.h"

namespace msa::train {

struct TrainRow {
  std::vector<int32_t> ids, tags;  // the whole row: prompt + targets (positions 3+k+t)
  std::vector<int32_t> target;     // [T] next token to predict at t, -1 = no loss
  std::vector<uint8_t> kind;       // [T] 1 = retrieval (ids, <End-of-Retrieve>), 2 = answer
  std::vector<uint8_t> positive;   // [num docs] aux-loss positives
};

struct Episode {
  std::vector<std::vector<int32_t>> docs;  // formatted memory documents (spec §3.2)
  std::vector<int32_t> rec_from;  // per doc: positions t >= rec_from[i] predict docs[i][t+1] (-1 = none)
  std::vector<TrainRow> rows;
};

struct Batch {
  std::vector<int32_t> template_ids;  // "<|im_start|>user\n"
  std::vector<Episode> episodes;
};

struct StepOptions {
  int64_t top_k = 4;
  float tau = 0.1f;  // clamped to [0.001, 0.5]
  // > 0: the aux loss scores a document with beta*logsumexp(s/beta) over its
  // (question token, chunk) scores instead of the hard max (selection keeps the
  // hard max, as inference does). tiny-model-notes §8.1: 0.1.
  float smooth_max = 0.0f;
  float w_lm = 1.0f, w_rec = 1.0f, w_aux = 0.1f;
  int threads = 1;
  bool backward = true;  // false: losses and diagnostics only
};

struct StepStats {
  double loss = 0;  // weighted total
  double lm_sum = 0, lm_id_sum = 0, lm_ans_sum = 0, rec_sum = 0, aux_sum = 0;
  int64_t lm_n = 0, lm_id_n = 0, lm_ans_n = 0, rec_n = 0, aux_n = 0;
  std::vector<double> recall1, recallk;  // per routing layer, summed over rows with positives
  std::vector<int64_t> recall_n;
  int64_t doc_tokens = 0, row_tokens = 0;
  double lm() const { return lm_n ? lm_sum / double(lm_n) : 0; }
  double lm_id() const { return lm_id_n ? lm_id_sum / double(lm_id_n) : 0; }
  double lm_ans() const { return lm_ans_n ? lm_ans_sum / double(lm_ans_n) : 0; }
  double rec() const { return rec_n ? rec_sum / double(rec_n) : 0; }
  double aux() const { return aux_n ? aux_sum / double(aux_n) : 0; }
  void add(const StepStats& o);
};

// What a row's forward saw (tests: training/inference parity).
struct RowTrace {
  std::vector<float> logits;                       // [T, V]
  std::vector<std::vector<int64_t>> selected;      // per routing layer: selected docs, ascending
  std::vector<std::vector<float>> doc_scores;      // per routing layer: cosine document scores
};

class Worker;

class StepRunner {
 public:
  StepRunner(const ParamLayout& L, int threads);
  ~StepRunner();
  // Losses of the batch; when opts.backward, grad (size L.total()) receives the
  // gradient of stats.loss (overwritten).
  StepStats run(const std::vector<float>& w, const Batch& b, const StepOptions& opts, std::vector<float>* grad);
  // Forward of one row of one episode with full logits (tests).
  RowTrace trace_row(const std::vector<float>& w, const Batch& b, int episode, int row, const StepOptions& opts);

 private:
  const ParamLayout& L_;
  std::vector<std::unique_ptr<Worker>> workers_;
};

}  // namespace msa::train
