// Byte layout of shard requests and replies (shard_requests.h). Kept apart
// from the owner-side handler so the decoders can be fuzzed without a bank
// (fuzz/fuzz_mpi_frames.cc).
#include "distributed/shard_requests.h"
#include "distributed/wire_frames.h"

namespace msa::distributed {

namespace {

void put_record(Writer& w, const engine::DocumentRecord& d) {
  w.put<int64_t>(d.id).str(d.external_id).str(d.ns).str(d.text).str(d.metadata_json);
  w.put<int64_t>(d.version).put<int64_t>(d.tokens);
}
engine::DocumentRecord get_record(Reader& r) {
  engine::DocumentRecord d;
  d.id = r.get<int64_t>();
  d.external_id = r.str();
  d.ns = r.str();
  d.text = r.str();
  d.metadata_json = r.str();
  d.version = r.get<int64_t>();
  d.tokens = r.get<int64_t>();
  return d;
}

}  // namespace

std::vector<uint8_t> encode_request(const ShardRequest& r) {
  Writer w;
  w.put<uint8_t>(uint8_t(r.op)).put<int64_t>(r.id).put<int64_t>(r.limit).str(r.text);
  put_strings(w, r.namespaces);
  w.put<uint64_t>(r.docs.size());
  for (const auto& d : r.docs) w.str(d.text).str(d.external_id).str(d.ns).str(d.metadata_json);
  w.array(r.ids.data(), r.ids.size());
  put_strings(w, r.external_ids);
  return std::move(w.bytes());
}

ShardRequest decode_request(const std::vector<uint8_t>& b) {
  Reader rd(b, "shard request");
  ShardRequest r;
  r.op = ShardOp(rd.get<uint8_t>());
  r.id = rd.get<int64_t>();
  r.limit = rd.get<int64_t>();
  r.text = rd.str();
  r.namespaces = get_strings(rd);
  const uint64_t n = rd.get<uint64_t>();
  MSA_CHECK(n <= rd.remaining() / 32, "malformed shard request: {} documents in {} bytes", n, rd.remaining());
  for (uint64_t i = 0; i < n; ++i) {
    engine::NewDocumentRequest d;
    d.text = rd.str();
    d.external_id = rd.str();
    d.ns = rd.str();
    d.metadata_json = rd.str();
    r.docs.push_back(std::move(d));
  }
  r.ids = rd.array<int64_t>();
  r.external_ids = get_strings(rd);
  return r;
}

std::vector<uint8_t> encode_reply(const ShardReply& r) {
  Writer w;
  w.str(r.error).put<int64_t>(r.total).put<int64_t>(r.next_id);
  w.put<int64_t>(r.stats.documents).put<int64_t>(r.stats.tokens).put<int64_t>(r.stats.chunks);
  w.put<uint64_t>(r.records.size());
  for (const auto& d : r.records) put_record(w, d);
  return std::move(w.bytes());
}

ShardReply decode_reply(const std::vector<uint8_t>& b) {
  Reader rd(b, "shard reply");
  ShardReply r;
  r.error = rd.str();
  r.total = rd.get<int64_t>();
  r.next_id = rd.get<int64_t>();
  r.stats.documents = rd.get<int64_t>();
  r.stats.tokens = rd.get<int64_t>();
  r.stats.chunks = rd.get<int64_t>();
  const uint64_t n = rd.get<uint64_t>();
  MSA_CHECK(n <= rd.remaining() / 56, "malformed shard reply: {} records in {} bytes", n, rd.remaining());
  for (uint64_t i = 0; i < n; ++i) r.records.push_back(get_record(rd));
  return r;
}

}  // namespace msa::distributed
