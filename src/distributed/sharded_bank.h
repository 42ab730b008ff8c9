// A sharded memory bank on disk (docs/memory-parallel.md): a directory with a
// small manifest (msa-shards.json) and one ordinary bank directory per shard.
//
// Partition rule: document d lives in shard d mod N (model-sense id, the [i]
// the model writes). Stable under growth: a new document's shard follows from
// its id alone, no rebalancing and no lookup table.
//
// Global ids are kept: a shard is a copy of the source bank from which every
// document of the other shards was deleted and compacted away. Compaction
// copies sections byte for byte (memory/bank_state.cc), so each document's
// pooled keys, content K/V, catalog row (text, external id, namespace,
// metadata, version) and namespace ids are bit-identical to the source —
// nothing is re-encoded.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace msa::distributed {

inline constexpr const char* kShardManifest = "msa-shards.json";

struct ShardManifest {
  int64_t num_shards = 0;
  std::vector<std::string> shard_dirs;   // relative to the sharded bank's directory
  std::vector<int64_t> shard_documents;  // live documents per shard at split time (informational)
  std::string source;                    // bank it was split from (informational)
};

inline int64_t shard_of(int64_t doc_id, int64_t num_shards) { return doc_id % num_shards; }

// True when `dir` holds a sharded bank manifest.
bool is_sharded_bank(const std::string& dir);
// Reads and validates <dir>/msa-shards.json; throws msa::Error naming the file.
ShardManifest read_shard_manifest(const std::string& dir);
// Absolute path of shard s.
std::string shard_path(const std::string& dir, const ShardManifest& m, int64_t s);

// Writes a sharded bank of `num_shards` shards of bank `src` into `out` (which
// must not exist or be empty). Verifies src's checksums first.
ShardManifest split_bank(const std::string& src, const std::string& out, int64_t num_shards);

// Inverse of split: one ordinary bank holding every live document of every
// shard with its id, version, namespace and encoding unchanged.
void merge_bank(const std::string& sharded, const std::string& out);

}  // namespace msa::distributed
