// Document-level requests of a sharded bank's memory service (sharded_service.h):
// rank 0 sends them to the rank owning a shard, which runs them against that
// shard's memory::Bank with the single-process rules (engine::BankService), so
// namespaces are enforced by every shard exactly as by one bank.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/memory_service.h"
#include "memory/bank.h"

namespace msa::distributed {

enum class ShardOp : uint8_t { Stats = 1, FindExternal = 2, Get = 3, List = 4, Add = 5, Update = 6, Remove = 7 };

struct ShardRequest {
  ShardOp op = ShardOp::Stats;
  int64_t id = -1;                               // Get, Update, Remove
  std::vector<std::string> namespaces;           // Get, List, Update, Remove ({"*"} = all)
  int64_t limit = -1;                            // List: the first `limit` visible documents by id (-1: all)
  std::string text;                              // Update
  std::vector<engine::NewDocumentRequest> docs;  // Add
  std::vector<int64_t> ids;                      // Add: the global ids rank 0 chose
  std::vector<std::string> external_ids;         // FindExternal: live documents using any of them
};

struct ShardReply {
  std::string error;                            // non-empty: the request failed on the owner
  std::vector<engine::DocumentRecord> records;  // Get / Update (0 or 1), List, Add, FindExternal
  int64_t total = 0;                            // List: visible documents; Remove: documents removed
  engine::MemoryStats stats;                    // Stats
  int64_t next_id = 0;                          // Stats: the shard's next free document id
};

std::vector<uint8_t> encode_request(const ShardRequest& r);
ShardRequest decode_request(const std::vector<uint8_t>& b);
std::vector<uint8_t> encode_reply(const ShardReply& r);
ShardReply decode_reply(const std::vector<uint8_t>& b);

// Owner side. Never throws: a failure travels as ShardReply::error.
std::vector<uint8_t> handle_shard_request(const std::shared_ptr<memory::Bank>& bank, const std::vector<uint8_t>& request);

}  // namespace msa::distributed
