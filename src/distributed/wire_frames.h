// Byte layouts of the memory-parallel messages that carry data between ranks
// (route batches, their replies, namespace lists, shard requests/replies),
// encoders and decoders in one place. Decoders read bytes from another process
// and treat them as untrusted: every count and size is checked against the
// bytes present and against overflow, so a malformed frame is an msa::Error
// naming the message, never a crash or a huge allocation
// (fuzz/fuzz_mpi_frames.cc).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "distributed/mpi_comm.h"
#include "engine/memory_service.h"
#include "memory/memory_view.h"

namespace msa::distributed {

// ---- route batch: [u64 n] then n x [u64 snapshot][i32 slot][query]
void put_route_query(Writer& w, int slot, const memory::RoutingQuery& q);
// Reads one [slot][query] (after the snapshot id); q.u points into *u.
memory::RoutingQuery get_route_query(Reader& rd, int* slot, std::vector<float>* u);
struct RouteQueryFrame {
  uint64_t snap = 0;
  int slot = 0;
  memory::RoutingQuery q;  // q.u points into u: move frames, never copy them
  std::vector<float> u;
};
// A whole batch (the body of a Route command after its header).
std::vector<RouteQueryFrame> get_route_batch(Reader& rd);

// ---- route reply body: n x ([u8 1][i64 docs][f32 scores] | [u8 0][error text])
struct RouteResultFrame {
  bool ok = false;
  std::string error;
  std::vector<int64_t> docs;
  std::vector<float> scores;  // one per doc
};
void put_route_result(Writer& w, const RouteResultFrame& r);
RouteResultFrame get_route_result(Reader& rd);

// ---- string list: [u64 n] then n x [u64 len][bytes]
void put_strings(Writer& w, const std::vector<std::string>& v);
std::vector<std::string> get_strings(Reader& rd);

}  // namespace msa::distributed
