// The provenance of an answer in the shape `msa ask --json` and the HTTP API
// share (docs/usage.md): rounds with the documents selected per routing layer
// and the ids the model generated, citations with snippets, token counts and
// per-stage timings.
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <string>

#include "engine/interleave.h"

namespace msa::engine {

struct CitedDocumentInfo {
  std::string external_id;
  std::string text;
  std::string metadata_json;  // its "passage" (provenance of a split source) is cited
};
// Information about a visible document (nullopt: unknown or not visible).
using DocumentInfoFn = std::function<std::optional<CitedDocumentInfo>(int64_t doc)>;

struct StageTimings {
  double route_ms = 0;    // scoring + top-k over the memory, all layers and rounds
  double prefill_ms = 0;  // the rest of every prefill (incl. fetching selected K/V)
  double decode_ms = 0;
};
StageTimings stage_timings(const InterleaveResult& r);

// At most max_bytes of text, cut at a UTF-8 boundary, "…" appended when cut.
std::string snippet(const std::string& text, size_t max_bytes = 160);

// {"answer", "rounds":[{"generated_doc_ids", "selected":{"<layer>":[[doc,score],...]}}],
//  "citations":[{"doc_id","external_id","score","snippet","passage"?}], "tokens":{"prompt","generated"},
//  "timings_ms":{"route","prefill","decode"}}
nlohmann::json answer_to_json(const InterleaveResult& r, const DocumentInfoFn& info);

}  // namespace msa::engine
