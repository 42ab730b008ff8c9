// engine::MemoryService over a bank sharded over MPI ranks (ShardedMemory), so
// `msa serve` / `msa chat` run unchanged on rank 0 (docs/memory-parallel.md).
//
// Reads: snapshots route over every shard; get goes to the owner of the id;
// list and stats gather every shard (list: each shard's first offset+limit
// visible documents by id, merged). Namespaces are enforced by every shard.
// Writes: rank 0 assigns global ids (next id = max over the shards' next ids,
// then counted on rank 0, which is the only writer of the shards); document d
// is stored by shard d mod N, which encodes it (with the model recorded in the
// bank) and commits before the write is acknowledged. External ids are kept
// unique across shards. Writes are serialised on rank 0.
#pragma once

#include <mutex>

#include "distributed/sharded_memory.h"
#include "engine/memory_service.h"

namespace msa::distributed {

class ShardedService : public engine::MemoryService {
 public:
  explicit ShardedService(ShardedMemory& memory) : mem_(memory) {}
  engine::MemorySnapshot snapshot(const std::vector<std::string>& namespaces) const override;
  std::vector<engine::DocumentRecord> add(const std::vector<engine::NewDocumentRequest>& docs) override;
  std::optional<engine::DocumentRecord> update(int64_t id, const std::string& text,
                                               const std::vector<std::string>& namespaces) override;
  bool remove(int64_t id, const std::vector<std::string>& namespaces) override;
  std::optional<engine::DocumentRecord> get(int64_t id, const std::vector<std::string>& namespaces) const override;
  std::vector<engine::DocumentRecord> list(const std::vector<std::string>& namespaces, int64_t offset, int64_t limit,
                                           int64_t* total) const override;
  engine::MemoryStats stats() const override;

 private:
  int64_t owner(int64_t id) const { return shard_of(id, mem_.num_shards()); }
  ShardedMemory& mem_;
  std::mutex write_mu_;
  int64_t next_id_ = -1;  // -1: not read from the shards yet
};

}  // namespace msa::distributed
