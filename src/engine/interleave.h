// Memory Interleave (spec §6): multi-round generative retrieval over a memory.
//
// Round r prefills a fresh row (round 1: the question row of §4.1; later
// rounds: the whole transcript re-encoded, §6.3) with fresh routing, then
// decodes greedily. When the model closes a list of ids with
// "<|object_ref_end|>", the original texts of those documents are appended
// (the injection block) and the next round starts. When it writes
// "<End-of-Retrieve>" (or the round grows past the reference's 1000-character
// rule), the question is restated and the answer is decoded in the same call.
//
// Unlike the reference, every loop is capped (rounds, tokens per round, total
// generated tokens) so a misbehaving model cannot run forever; the result says
// which cap stopped it.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "engine/sampler.h"
#include "engine/session.h"
#include "memory/memory_view.h"
#include "model/tokenizer.h"

namespace msa::engine {

// Original text of a document for injection; nullopt when the id does not
// exist or is not visible to the caller (such ids are dropped, as in §6.2).
using DocumentTextFn = std::function<std::optional<std::string>(int64_t doc)>;

struct InterleaveOptions {
  EngineOptions engine;               // top-k, scoring switch
  SamplerOptions sampler;             // greedy by default (the reference)
  int max_rounds = 8;                 // retrieval rounds (calls); the reference has no cap
  int64_t max_round_tokens = 512;     // generated tokens per call (reference: 2048 steps)
  int64_t max_total_tokens = 2048;    // generated tokens over all calls
  size_t max_round_chars = 1000;      // §6.2: a longer retrieval round is forced to end
  bool interleave = true;             // false: one call only; an id list ends the call
  bool inject_text = true;            // false: ablation — inject "[id]. \n" without the text
  bool causal_restatement = true;     // false: the reference's non-causal block (§5.4)
  // Earlier turns of a chat (docs/api.md "Multi-turn"), shown to the model in
  // the restatement just before the question; routing uses the question alone.
  std::string conversation;
};

struct RoundTrace {
  std::vector<LayerRouting> routing;     // per routing layer: selected documents and scores
  std::string generated_text;            // what the model wrote in this call, with the restatement block
  std::string model_text;                // only the tokens the model generated in this call
  std::vector<int64_t> generated_doc_ids;  // ids parsed from it (visible ones only)
  std::string injected;                  // the injection block appended after it ("" if none)
  int64_t prompt_tokens = 0, generated_tokens = 0;
  double route_prefill_ms = 0, decode_ms = 0;
};

struct InterleaveResult {
  std::string answer;      // §6.4 extraction from the model's generated text; "" when it wrote no answer marker
  std::string transcript;  // from "\nPlease answer ..." to the end, special tokens included
  std::vector<RoundTrace> rounds;
  std::vector<int64_t> cited_doc_ids;  // every distinct visible [n] the model generated (§6.4)
  std::string stop_reason;  // "answer", "eos", "round_tokens", "total_tokens", "rounds", "single_round"
  int64_t prompt_tokens = 0, generated_tokens = 0;
  double route_prefill_ms = 0, decode_ms = 0;
};

// Streaming hooks (all optional).
struct InterleaveCallbacks {
  std::function<void(int round)> on_round_start;
  // Decoded text as it is generated; `answering` is true after the restatement.
  std::function<void(const std::string& piece, bool answering)> on_text;
  std::function<void(const RoundTrace& round)> on_round_end;
};

InterleaveResult answer_with_interleave(std::shared_ptr<const model::Model> m,
                                        const model::Tokenizer& tok, const memory::MemoryView& memory,
                                        const DocumentTextFn& text_of, const std::string& question,
                                        const InterleaveOptions& opts,
                                        const InterleaveCallbacks& cb = {});

}  // namespace msa::engine
