// What the product surfaces (`msa ask`, `msa chat`, `msa serve`) need from a
// memory, whatever holds it: a persistent bank in this process, or a bank
// sharded over MPI ranks. Reads go through snapshots that are fixed once taken
// and limited to the caller's namespaces; writes are atomic and visible to the
// next snapshot.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/error.h"
#include "engine/answer_report.h"
#include "engine/interleave.h"
#include "memory/memory_view.h"

namespace msa::engine {

struct DocumentRecord {
  int64_t id = -1;  // model-sense id: the [i] the model writes
  std::string external_id, ns, text, metadata_json;
  int64_t version = 1, tokens = 0;
};

struct NewDocumentRequest {
  std::string text, external_id, ns = "default", metadata_json;
};

// A new version of one document (PUT): fields left unset keep their value.
struct DocumentChange {
  std::string text;
  std::optional<std::string> metadata_json;  // replaces the metadata ("" clears it)
  std::optional<std::string> ns;             // moves the document to this namespace
};

// A memory that cannot do an operation (a sharded bank: sources, moves); HTTP 501.
class NotSupported : public Error {
 public:
  using Error::Error;
};

struct MemorySnapshot {
  std::shared_ptr<const memory::MemoryView> view;  // routing sees only the allowed namespaces
  DocumentTextFn text;                             // original text for injection (same visibility)
  DocumentInfoFn info;                             // external id + text for citations
};

struct MemoryStats {
  int64_t documents = 0, tokens = 0, chunks = 0;
};

class MemoryService {
 public:
  virtual ~MemoryService() = default;
  // namespaces: the caller's readable namespaces; {"*"} = all.
  virtual MemorySnapshot snapshot(const std::vector<std::string>& namespaces) const = 0;
  virtual std::vector<DocumentRecord> add(const std::vector<NewDocumentRequest>& docs) = 0;
  // New version of a visible document (same model id); nullopt if not visible.
  virtual std::optional<DocumentRecord> update(int64_t id, const std::string& text,
                                               const std::vector<std::string>& namespaces) = 0;
  virtual bool remove(int64_t id, const std::vector<std::string>& namespaces) = 0;
  virtual std::optional<DocumentRecord> get(int64_t id, const std::vector<std::string>& namespaces) const = 0;
  virtual std::vector<DocumentRecord> list(const std::vector<std::string>& namespaces, int64_t offset,
                                           int64_t limit, int64_t* total) const = 0;
  virtual MemoryStats stats() const = 0;

  // Sources (issue 16; docs/api.md): the passages written from one external id.
  // New version of a visible document with metadata / namespace changes.
  virtual std::optional<DocumentRecord> update(int64_t id, const DocumentChange& change,
                                               const std::vector<std::string>& namespaces);
  // Live documents of the source external id (S, or S#p0, S#p1, …), whatever their namespace.
  virtual std::vector<DocumentRecord> find_source(const std::string& external_id) const;
  // Create or new version of a source: its passages replace all of its documents in one commit.
  // Empty ns / metadata keep the source's. `created`: no document of the source existed.
  virtual std::vector<DocumentRecord> put_source(const NewDocumentRequest& source, bool* created);
  // Removes every document of the source in one commit; returns how many.
  virtual int64_t remove_source(const std::string& external_id);
};

}  // namespace msa::engine
