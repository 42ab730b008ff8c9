// libFuzzer target: the memory-parallel message decoders (distributed/
// wire_frames.h, shard requests/replies) read bytes another rank sent; any
// input must decode or throw msa::Error — never crash, overflow or allocate
// what the message cannot hold. A frame that decodes must re-encode to a frame
// that decodes to the same values. The first byte picks the decoder.
#include <cstdint>
#include <vector>

#include "core/error.h"
#include "distributed/shard_requests.h"
#include "distributed/wire_frames.h"

using namespace msa::distributed;

namespace {

void require(bool ok) {
  if (!ok) __builtin_trap();
}

void route_batch(const std::vector<uint8_t>& b) {
  Reader rd(b, "route command");
  const auto batch = get_route_batch(rd);
  Writer w;
  w.put<uint64_t>(batch.size());
  for (const auto& f : batch) {
    require(f.q.u == f.u.data() || f.u.empty());
    w.put<uint64_t>(f.snap);
    put_route_query(w, f.slot, f.q);
  }
  Reader again(w.bytes(), "route command (re-encoded)");
  const auto back = get_route_batch(again);
  require(back.size() == batch.size());
  for (size_t i = 0; i < back.size(); ++i)
    require(back[i].snap == batch[i].snap && back[i].slot == batch[i].slot && back[i].q.Tr == batch[i].q.Tr &&
            back[i].q.Hq == batch[i].q.Hq && back[i].q.d == batch[i].q.d && back[i].q.k == batch[i].q.k &&
            back[i].u.size() == batch[i].u.size());
}

void route_reply(const std::vector<uint8_t>& b) {
  Reader rd(b, "route reply");
  const uint64_t n = rd.get<uint64_t>();
  for (uint64_t i = 0; i < n && i < 4096; ++i) {
    const RouteResultFrame r = get_route_result(rd);
    require(!r.ok || r.docs.size() == r.scores.size());
  }
}

void strings(const std::vector<uint8_t>& b) {
  Reader rd(b, "snapshot command");
  const auto v = get_strings(rd);
  Writer w;
  put_strings(w, v);
  Reader again(w.bytes(), "snapshot command (re-encoded)");
  require(get_strings(again) == v);
}

void shard_request(const std::vector<uint8_t>& b) {
  const ShardRequest r = decode_request(b);
  const ShardRequest back = decode_request(encode_request(r));
  require(back.op == r.op && back.id == r.id && back.limit == r.limit && back.text == r.text &&
          back.namespaces == r.namespaces && back.docs.size() == r.docs.size() && back.ids == r.ids &&
          back.external_ids == r.external_ids);
}

void shard_reply(const std::vector<uint8_t>& b) {
  const ShardReply r = decode_reply(b);
  const ShardReply back = decode_reply(encode_reply(r));
  require(back.error == r.error && back.total == r.total && back.records.size() == r.records.size());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::vector<uint8_t> body(data + 1, data + size);  // exact bounds for ASan
  try {
    switch (data[0] % 5) {
      case 0: route_batch(body); break;
      case 1: route_reply(body); break;
      case 2: strings(body); break;
      case 3: shard_request(body); break;
      case 4: shard_reply(body); break;
    }
  } catch (const msa::Error&) {
  }
  return 0;
}
