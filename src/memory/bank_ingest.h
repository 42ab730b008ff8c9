// Ingest into a persistent bank (`msa bank add`): readers for a JSONL file
// ({"text", optional "id", "namespace", "metadata"} per line) or a directory of
// .txt/.md files (external id = path relative to the directory), a resumable
// commit loop and a terminal progress bar. With a passage size, every input
// document longer than it is written as passages (memory/passages.h): the
// passages of one source are always in the same commit.
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

// An input file that carries no document (empty, whitespace only, unreadable).
struct IngestSkip {
  std::string path, reason;
};

// JSONL file or directory; `default_ns` applies to items without a namespace.
// Directory files that carry nothing are reported in *skipped (not an error).
std::vector<IngestItem> read_ingest_input(const std::string& path, const std::string& default_ns,
                                          std::vector<IngestSkip>* skipped = nullptr);

struct IngestOptions {
  int64_t batch_docs = 256;  // documents per commit (a source's passages are never cut)
  bool progress = false;     // draw a progress bar on stderr
  int64_t passage_tokens = 0;  // > 0: split longer documents into passages (needs the bank's tokenizer)
};

struct IngestResult {
  std::vector<int64_t> ids;  // model id of every input item (its first passage), in input order
  std::vector<std::vector<int64_t>> passage_ids;  // every passage of every input item
  int64_t added = 0, updated = 0, skipped = 0;
  int64_t tokens = 0;  // encoded in this run
  double seconds = 0;
};

IngestResult ingest(Bank& bank, const std::vector<IngestItem>& items, const IngestOptions& o);

// True when stderr is a terminal and the environment does not say CI.
bool progress_wanted();

}  // namespace msa::memory
