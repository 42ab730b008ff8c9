#include "distributed/wire_frames.h"

#include "core/checked_math.h"

namespace msa::distributed {

namespace {
// Largest routing-query dimension accepted from the wire (tokens, heads, head
// dim, k): far above any model, far below anything that overflows.
constexpr int64_t kMaxQueryDim = int64_t(1) << 24;

template <class E>
E get_enum(Reader& rd, uint8_t max, const char* what) {
  const uint8_t v = rd.get<uint8_t>();
  MSA_CHECK(v <= max, "malformed route command: {} {} (known: 0..{})", what, v, max);
  return E(v);
}
}  // namespace

void put_route_query(Writer& w, int slot, const memory::RoutingQuery& q) {
  w.put<int32_t>(slot).put<int64_t>(q.Tr).put<int64_t>(q.Hq).put<int64_t>(q.d).put<int64_t>(q.k);
  w.put<uint8_t>(uint8_t(q.head_reduce)).put<uint8_t>(uint8_t(q.query_reduce)).put<uint8_t>(uint8_t(q.chunk_reduce));
  w.array(q.u, size_t(q.Tr * q.Hq * q.d));
}

memory::RoutingQuery get_route_query(Reader& rd, int* slot, std::vector<float>* u) {
  memory::RoutingQuery q;
  *slot = rd.get<int32_t>();
  q.Tr = rd.get<int64_t>();
  q.Hq = rd.get<int64_t>();
  q.d = rd.get<int64_t>();
  q.k = rd.get<int64_t>();
  for (int64_t v : {q.Tr, q.Hq, q.d, q.k})
    MSA_CHECK(v >= 0 && v <= kMaxQueryDim, "malformed route command: query dimension {} (Tr {}, Hq {}, d {}, k {})", v,
              q.Tr, q.Hq, q.d, q.k);
  MSA_CHECK(*slot >= 0, "malformed route command: slot {}", *slot);
  q.head_reduce = get_enum<kernels::HeadReduce>(rd, uint8_t(kernels::HeadReduce::Max), "head reduce");
  q.query_reduce = get_enum<kernels::QueryReduce>(rd, uint8_t(kernels::QueryReduce::Last), "query reduce");
  q.chunk_reduce = get_enum<kernels::ChunkReduce>(rd, uint8_t(kernels::ChunkReduce::Mean), "chunk reduce");
  *u = rd.array<float>();
  const int64_t values = checked_product<int64_t>({q.Tr, q.Hq, q.d}, "malformed route command");
  MSA_CHECK(int64_t(u->size()) == values, "malformed route command: {} query values for Tr {} x Hq {} x d {}",
            u->size(), q.Tr, q.Hq, q.d);
  q.u = u->data();
  return q;
}

std::vector<RouteQueryFrame> get_route_batch(Reader& rd) {
  const uint64_t n = rd.get<uint64_t>();
  // A query takes at least 55 bytes: a count the message cannot hold is malformed.
  MSA_CHECK(n <= rd.remaining() / 55, "malformed route command: {} queries in {} bytes", n, rd.remaining());
  std::vector<RouteQueryFrame> frames(static_cast<size_t>(n));
  for (auto& f : frames) {
    f.snap = rd.get<uint64_t>();
    f.q = get_route_query(rd, &f.slot, &f.u);
  }
  return frames;
}

void put_route_result(Writer& w, const RouteResultFrame& r) {
  if (!r.ok) {
    w.put<uint8_t>(0).str(r.error);
    return;
  }
  w.put<uint8_t>(1).array(r.docs.data(), r.docs.size()).array(r.scores.data(), r.scores.size());
}

RouteResultFrame get_route_result(Reader& rd) {
  RouteResultFrame r;
  r.ok = rd.get<uint8_t>() != 0;
  if (!r.ok) {
    r.error = rd.str();
    return r;
  }
  r.docs = rd.array<int64_t>();
  r.scores = rd.array<float>();
  MSA_CHECK(r.docs.size() == r.scores.size(), "malformed route reply: {} documents, {} scores", r.docs.size(),
            r.scores.size());
  return r;
}

void put_strings(Writer& w, const std::vector<std::string>& v) {
  w.put<uint64_t>(v.size());
  for (const auto& s : v) w.str(s);
}

std::vector<std::string> get_strings(Reader& rd) {
  const uint64_t n = rd.get<uint64_t>();
  // Each string takes at least its 8-byte length: a count the message cannot
  // hold is malformed (and must not size an allocation).
  MSA_CHECK(n <= rd.remaining() / 8, "malformed {} message: {} strings in {} bytes", rd.what(), n, rd.remaining());
  std::vector<std::string> v;
  v.reserve(size_t(n));
  for (uint64_t i = 0; i < n; ++i) v.push_back(rd.str());
  return v;
}

}  // namespace msa::distributed
