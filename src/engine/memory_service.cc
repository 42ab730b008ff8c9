#include "engine/memory_service.h"

namespace msa::engine {

// Defaults for memories without sources (a sharded bank): plain text updates
// work, the rest is refused rather than done partly.
std::optional<DocumentRecord> MemoryService::update(int64_t id, const DocumentChange& c,
                                                    const std::vector<std::string>& namespaces) {
  if (c.metadata_json || c.ns) throw NotSupported("this memory cannot change a document's metadata or namespace");
  return update(id, c.text, namespaces);
}

std::vector<DocumentRecord> MemoryService::find_source(const std::string&) const {
  throw NotSupported("this memory has no external-id addressing (sharded bank)");
}

std::vector<DocumentRecord> MemoryService::put_source(const NewDocumentRequest&, bool*) {
  throw NotSupported("this memory has no external-id addressing (sharded bank)");
}

int64_t MemoryService::remove_source(const std::string&) {
  throw NotSupported("this memory has no external-id addressing (sharded bank)");
}

}  // namespace msa::engine
