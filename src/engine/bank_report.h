// A bank's statistics and documents as JSON, in the shapes `msa bank stats
// --json` / `msa bank list --json` print (docs/usage.md) and the Python
// package returns.
#pragma once

#include <nlohmann/json.hpp>

#include "memory/bank.h"

namespace msa::engine {

// {"generation", "documents", "stored_versions", "tokens", "chunks", "stored_chunks",
//  "segments", "routing_partitions", "bytes":{...}, "bytes_per_token":{...},
//  "serve_rss_bytes", "process_rss_bytes"}
nlohmann::json bank_stats_json(const memory::BankStats& s);

// {"id", "version", "namespace", "tokens", "chunks"[, "external_id"][, "metadata"]}
// (the text is not included: list output stays small).
nlohmann::json bank_document_json(const memory::DocumentInfo& d);

}  // namespace msa::engine
