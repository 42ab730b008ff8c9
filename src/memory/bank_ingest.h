// Ingest into a persistent bank (`msa bank add`): readers for a JSONL file
// ({"text", optional "id", "namespace", "metadata"} per line) or a directory of
// .txt/.md files (external id = path relative to the directory), a resumable
// commit loop and a terminal progress bar.
//
// Resume rule (docs/bank-format.md §Resume): an input document is already
// committed when
//   * it has an external id and a live document with that id and the same
//     namespace + text exists (same id, different text → update: new version);
//   * it has no external id and it is the k-th input document with its content
//     hash (xxh64 of namespace + text) while the bank holds ≥ k live documents
//     without external id with that hash.
// So re-running an interrupted ingest of the same input adds exactly what is missing.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "memory/bank.h"

namespace msa::memory {

struct IngestItem {
  NewDocument doc;
  std::string source;  // "file:line" or the file path, for messages
};

// JSONL file or directory; `default_ns` applies to items without a namespace.
std::vector<IngestItem> read_ingest_input(const std::string& path, const std::string& default_ns);

struct IngestOptions {
  int64_t batch_docs = 256;  // documents per commit
  bool progress = false;     // draw a progress bar on stderr
};

struct IngestResult {
  std::vector<int64_t> ids;  // model id of every input item, in input order
  int64_t added = 0, updated = 0, skipped = 0;
  int64_t tokens = 0;  // encoded in this run
  double seconds = 0;
};

IngestResult ingest(Bank& bank, const std::vector<IngestItem>& items, const IngestOptions& o);

// True when stderr is a terminal and the environment does not say CI.
bool progress_wanted();

}  // namespace msa::memory
