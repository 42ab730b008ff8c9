// Internal to the bank: the immutable in-memory state of one bank generation
// (mapped segments, RAM routing partitions, the live-document table), shared
// by every snapshot taken from it. Writers build a new state and publish it.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/mapped_file.h"
#include "memory/bank_catalog.h"
#include "memory/bank_format.h"
#include "memory/bank_manifest.h"
#include "memory/encoded_memory.h"
#include "memory/routing_index.h"

namespace msa::memory {

// One mapped, header-checked segment file.
struct BankSegment {
  ManifestSegment meta;
  std::string path;
  MappedFile map;
  bankfmt::ParsedFile parsed;
  const bankfmt::DocEntry* docs = nullptr;
  const uint32_t* chunk_tokens = nullptr;
  std::vector<const uint8_t*> rk, k, v;  // per slot

  // Opens and parses; verify = recompute section checksums too. Throws naming the file.
  static std::shared_ptr<const BankSegment> open(const std::string& path, const ManifestSegment& meta,
                                                 bool verify);
  // Routing keys of doc entry `i` for `slot` as f32 [C, H, d].
  void routing_keys(size_t i, int slot, std::vector<float>* out) const;
  // Drops the key/value pages from this process's resident set (routing keys now live in the
  // RoutingIndex; content pages are faulted back in on demand).
  void release_pages() const;
};

struct DocLoc {
  const BankSegment* seg = nullptr;
  uint32_t local = 0;  // doc entry index in seg
  int64_t version = 0;
  uint32_t ns = 0;
};

// A RAM routing index over the live documents of consecutive segments.
struct BankPartition {
  std::vector<std::shared_ptr<const BankSegment>> segs;
  std::unique_ptr<RoutingIndex> index;
  int64_t stored_chunks = 0;
  uint64_t ram_bytes() const;
};

using LiveMap = std::unordered_map<int64_t, DocLoc>;

struct BankState {
  std::string dir;
  Manifest manifest;
  int64_t next_doc_id = 0;
  std::shared_ptr<BankCatalog> catalog;
  std::shared_ptr<const TemplateKV> tmpl;
  std::vector<std::shared_ptr<const BankSegment>> segments;
  std::vector<std::shared_ptr<const BankPartition>> partitions;
  std::shared_ptr<const LiveMap> live;
  std::map<std::string, uint32_t> namespaces;
  std::map<uint32_t, int64_t> live_per_ns;
  RoutingIndexOptions index_opt;
  int64_t partition_chunks = 0;
};

// Builds one partition's RoutingIndex from its segments' live documents.
std::shared_ptr<const BankPartition> build_partition(std::vector<std::shared_ptr<const BankSegment>> segs,
                                                     const LiveMap& live, const RoutingIndexOptions& opt);

// Segment file of a batch of encoded documents (ids, versions given).
std::vector<uint8_t> build_segment_file(uint64_t segment_id, const Manifest& m,
                                        const std::vector<const EncodedDocument*>& docs,
                                        const std::vector<int64_t>& ids, const std::vector<int64_t>& versions,
                                        int64_t* chunks, int64_t* tokens);
// Copies live documents of existing segments into a new segment (compaction).
std::vector<uint8_t> build_compacted_segment(uint64_t segment_id, const Manifest& m,
                                             const std::vector<const BankSegment*>& segs,
                                             const std::vector<uint32_t>& locals, int64_t* chunks,
                                             int64_t* tokens);

std::vector<uint8_t> build_template_file(const TemplateKV& t, const Manifest& m, int64_t layers);
std::shared_ptr<const TemplateKV> load_template(const std::string& path, bool verify);

std::string segment_file_name(uint64_t id);

}  // namespace msa::memory
