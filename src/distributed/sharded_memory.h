// Memory parallel (issue 8, docs/memory-parallel.md): a sharded bank served by
// MPI ranks. Rank r opens shards {s : s mod world == r} (rank 0 always holds
// shard 0, hence the template K/V); rank 0 runs the model and routes through a
// ShardedMemoryView, the other ranks run serve_shards().
//
// One routing layer = one round:
//   1. rank 0 sends the routing query (slot, k, reduce rules, Tr×Hq×d floats)
//      to every other rank, then scores its own shards while they score theirs;
//   2. every rank returns its local top-k (doc id + score); rank 0 merges them
//      with the single-process rule (score desc, lower id first), so the global
//      top-k is exactly the unsharded bank's;
//   3. rank 0 sends each owner of selected documents one request listing them
//      (sent at the end of route(), answered while rank 0 appends its own
//      documents' K/V); the owners return the pooled content K/V.
// Every receive has a deadline: a dead or hung rank is an msa::Error, never a hang.
//
// Concurrency (msa serve): any number of threads may use snapshots at once.
// Every command carries a request id and every reply echoes it; replies that
// arrive for another thread wait in a mailbox, so conversations interleave
// freely over the one ordered channel per rank. Routing queries that arrive
// while a round is in flight are batched: the next round carries all of them
// in one message per rank (one broadcast + one gather for the whole batch).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "distributed/mpi_comm.h"
#include "distributed/sharded_bank.h"
#include "engine/memory_service.h"
#include "memory/bank.h"

namespace msa::distributed {

struct ShardOpenOptions {
  memory::BankOpenOptions bank;   // how each shard is opened (model for the identity check: rank 0)
  bool allow_missing = false;     // degraded mode: a shard that fails to open is left out
  double timeout_s = 120;         // deadline of every message round
  bool batch_routes = true;       // concurrent routing queries share rounds (false: one round each)
};

// One shard under one namespace restriction: routing/K-V view + document lookup.
struct ShardSnapshot {
  std::shared_ptr<const memory::MemoryView> view;
  engine::DocumentInfoFn info;  // external id + text; nullopt unless visible
};
using ShardOpener = std::function<ShardSnapshot(const std::vector<std::string>& namespaces)>;

// The shards this rank owns, opened.
struct LocalShards {
  std::vector<int64_t> ids;            // shard numbers
  std::vector<ShardOpener> snapshot;   // parallel to ids; empty when the shard failed to open
  std::vector<std::shared_ptr<memory::Bank>> banks;  // parallel to ids; null: failed or not a bank (bench)
  std::vector<std::string> errors;     // parallel to ids; "" when open
  int64_t num_shards = 0;
};
// Opens the bank shards {s : s mod world == rank} of a sharded bank directory.
LocalShards open_local_shards(const std::string& dir, const ShardManifest& m, int rank, int world,
                              const memory::BankOpenOptions& o);

// Per-query protocol counters of rank 0 (benchmark, docs).
struct ProtocolStats {
  uint64_t rounds = 0;        // route rounds (one per routing layer per prefill, or per batch)
  uint64_t routed_queries = 0;  // routing queries carried by those rounds (> rounds: batching)
  uint64_t fetch_requests = 0;
  uint64_t bytes_sent = 0, bytes_received = 0;
};

class ShardedMemory {
 public:
  // Rank 0 only. Collects every worker's open status (throws naming the failed
  // shards unless allow_missing).
  ShardedMemory(Comm& comm, LocalShards local, const ShardOpenOptions& o);
  ~ShardedMemory();  // tells the workers to stop (best effort)

  // A namespace-restricted view over every shard ({"*"} = all), plus text/info lookups.
  engine::MemorySnapshot snapshot(const std::vector<std::string>& namespaces);
  // Shards left out (degraded mode), with the reason: "shard 1 (rank 1): <error>".
  const std::vector<std::string>& missing() const { return missing_; }
  ProtocolStats stats() const;
  void shutdown();  // idempotent

  int64_t num_shards() const;
  bool shard_present(int64_t shard) const;
  // Document-level requests (shard_requests.h), each run by its shard's owner —
  // rank 0's own shards in this process. All are in flight at once; replies come
  // back in the order of `calls`. Throws if a shard is missing or a rank fails.
  std::vector<std::vector<uint8_t>> shard_calls(
      const std::vector<std::pair<int64_t, std::vector<uint8_t>>>& calls);

  // Internal (the view and lookups call these).
  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
  std::vector<std::string> missing_;
};

// Rank 0, before a ShardedMemory exists (e.g. the model failed to load): tells
// every worker to stop, so they exit instead of waiting for commands.
void stop_workers(Comm& comm);

// Ranks ≥ 1: reports the open status to rank 0, then answers commands until
// rank 0 says stop. Returns normally on stop.
void serve_shards(Comm& comm, LocalShards local, double timeout_s);

}  // namespace msa::distributed
