// Issue 18 item 6: the memory-parallel decoders treat bytes from another rank
// as untrusted. Counts larger than the message, dimensions whose product
// overflows, unknown enum values: each is an msa::Error naming the message —
// before, a namespace count sized an allocation (std::length_error / bad_alloc)
// and Tr x Hq x d was signed overflow. (fuzz/fuzz_mpi_frames.cc fuzzes them.)
#include <gtest/gtest.h>

#include <limits>

#include "core/error.h"
#include "distributed/shard_requests.h"
#include "distributed/wire_frames.h"

using namespace msa;
using namespace msa::distributed;

namespace {

template <class F>
void expect_error(F f, const std::string& needle) {
  try {
    f();
    ADD_FAILURE() << "no error (expected one containing '" << needle << "')";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "not an msa::Error: " << e.what();
  }
}

Writer query_frame(int64_t Tr, int64_t Hq, int64_t d, uint8_t reduce = 0, uint64_t values = 0) {
  Writer w;
  w.put<uint64_t>(1).put<uint64_t>(7);  // one query of snapshot 7
  w.put<int32_t>(0).put<int64_t>(Tr).put<int64_t>(Hq).put<int64_t>(d).put<int64_t>(4);
  w.put<uint8_t>(reduce).put<uint8_t>(0).put<uint8_t>(0);
  w.put<uint64_t>(values);
  for (uint64_t i = 0; i < values; ++i) w.put<float>(1.f);
  return w;
}

}  // namespace

TEST(WireFrames, RoundTrip) {
  std::vector<float> u(2 * 1 * 4, 0.5f);
  memory::RoutingQuery q;
  q.u = u.data();
  q.Tr = 2, q.Hq = 1, q.d = 4, q.k = 3;
  Writer w;
  w.put<uint64_t>(1).put<uint64_t>(9);
  put_route_query(w, 1, q);
  Reader rd(w.bytes(), "route command");
  const auto batch = get_route_batch(rd);
  ASSERT_EQ(batch.size(), 1u);
  EXPECT_EQ(batch[0].snap, 9u);
  EXPECT_EQ(batch[0].slot, 1);
  EXPECT_EQ(batch[0].q.u, batch[0].u.data());
  EXPECT_EQ(batch[0].u, u);
  Writer s;
  put_strings(s, {"a", "*"});
  Reader sr(s.bytes(), "snapshot command");
  EXPECT_EQ(get_strings(sr), (std::vector<std::string>{"a", "*"}));
}

TEST(WireFrames, MalformedFramesAreErrors) {
  {  // a namespace count the message cannot hold
    Writer w;
    w.put<uint64_t>(uint64_t(1) << 60);
    Reader rd(w.bytes(), "snapshot command");
    expect_error([&] { get_strings(rd); }, "malformed snapshot command message: 1152921504606846976 strings");
  }
  {  // Tr x Hq x d beyond int64
    const auto w = query_frame(int64_t(1) << 24, int64_t(1) << 24, int64_t(1) << 24);
    Writer copy = w;
    Reader rd(copy.bytes(), "route command");
    expect_error([&] { get_route_batch(rd); }, "size overflows");
  }
  {  // negative and huge dimensions
    Writer w = query_frame(-1, 1, 1);
    Reader rd(w.bytes(), "route command");
    expect_error([&] { get_route_batch(rd); }, "query dimension -1");
  }
  {  // unknown reduce method
    Writer w = query_frame(1, 1, 1, 9, 1);
    Reader rd(w.bytes(), "route command");
    expect_error([&] { get_route_batch(rd); }, "head reduce 9");
  }
  {  // a query count the message cannot hold
    Writer w;
    w.put<uint64_t>(std::numeric_limits<uint64_t>::max());
    Reader rd(w.bytes(), "route command");
    expect_error([&] { get_route_batch(rd); }, "queries in 0 bytes");
  }
  {  // a shard reply claiming more records than bytes
    Writer w;
    w.str("").put<int64_t>(0).put<int64_t>(0).put<int64_t>(0).put<int64_t>(0).put<int64_t>(0);
    w.put<uint64_t>(uint64_t(1) << 40);
    expect_error([&] { decode_reply(w.bytes()); }, "malformed shard reply");
  }
}
