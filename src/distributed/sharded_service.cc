#include "distributed/sharded_service.h"

#include <algorithm>
#include <map>
#include <set>

#include "core/checked_math.h"
#include "distributed/shard_requests.h"

namespace msa::distributed {

namespace {

// Runs one request per shard (all in flight at once); throws the first shard error.
std::vector<ShardReply> call(ShardedMemory& mem, const std::vector<std::pair<int64_t, ShardRequest>>& reqs) {
  std::vector<std::pair<int64_t, std::vector<uint8_t>>> calls;
  for (const auto& [shard, r] : reqs) calls.emplace_back(shard, encode_request(r));
  const auto raw = mem.shard_calls(calls);
  std::vector<ShardReply> out;
  for (size_t i = 0; i < raw.size(); ++i) {
    out.push_back(decode_reply(raw[i]));
    if (!out.back().error.empty()) throw Error(fmt::format("shard {}: {}", reqs[i].first, out.back().error));
  }
  return out;
}

ShardRequest request(ShardOp op, int64_t id = -1, const std::vector<std::string>& ns = {}) {
  ShardRequest r;
  r.op = op;
  r.id = id;
  r.namespaces = ns;
  return r;
}

ShardReply call_one(ShardedMemory& mem, int64_t shard, const ShardRequest& r) {
  return std::move(call(mem, {{shard, r}})[0]);
}

// The same request to every present shard (degraded mode: the missing ones are left out).
std::vector<ShardReply> call_all(ShardedMemory& mem, const ShardRequest& r) {
  std::vector<std::pair<int64_t, ShardRequest>> reqs;
  for (int64_t s = 0; s < mem.num_shards(); ++s)
    if (mem.shard_present(s)) reqs.emplace_back(s, r);
  return call(mem, reqs);
}

}  // namespace

engine::MemorySnapshot ShardedService::snapshot(const std::vector<std::string>& namespaces) const {
  return mem_.snapshot(namespaces);
}

engine::MemoryStats ShardedService::stats() const {
  engine::MemoryStats s;
  for (const auto& r : call_all(mem_, request(ShardOp::Stats))) {
    s.documents += r.stats.documents;
    s.tokens += r.stats.tokens;
    s.chunks += r.stats.chunks;
  }
  return s;
}

std::optional<engine::DocumentRecord> ShardedService::get(int64_t id, const std::vector<std::string>& ns) const {
  if (id < 0 || !mem_.shard_present(owner(id))) return std::nullopt;
  auto r = call_one(mem_, owner(id), request(ShardOp::Get, id, ns));
  if (r.records.empty()) return std::nullopt;
  return std::move(r.records[0]);
}

std::vector<engine::DocumentRecord> ShardedService::list(const std::vector<std::string>& ns, int64_t offset,
                                                         int64_t limit, int64_t* total) const {
  MSA_CHECK(offset >= 0, "list: offset must be >= 0 (got {})", offset);
  MSA_CHECK(limit >= -1, "list: limit must be >= 0, or -1 for all (got {})", limit);
  // Ids are disjoint across shards: the global page by id is within every
  // shard's first offset+limit documents. Past the last document (an offset
  // that large, or offset + limit beyond int64) the page is empty and the
  // shards are asked for their counts only, not for their whole catalogs.
  ShardRequest q = request(ShardOp::List, -1, ns);
  const int64_t stored = stats().documents;  // every namespace: an upper bound on what is visible
  const auto end = add_checked(offset, limit);
  if (offset >= stored) q.limit = 0;
  else q.limit = limit < 0 || !end ? -1 : *end;
  std::vector<engine::DocumentRecord> all;
  int64_t n = 0;
  for (auto& r : call_all(mem_, q)) {
    n += r.total;
    for (auto& d : r.records) all.push_back(std::move(d));
  }
  if (total) *total = n;
  std::sort(all.begin(), all.end(), [](const auto& a, const auto& b) { return a.id < b.id; });
  std::vector<engine::DocumentRecord> page;
  for (int64_t i = offset; i < int64_t(all.size()) && (limit < 0 || i - offset < limit); ++i)
    page.push_back(std::move(all[size_t(i)]));
  return page;
}

std::vector<engine::DocumentRecord> ShardedService::add(const std::vector<engine::NewDocumentRequest>& docs) {
  if (docs.empty()) return {};
  std::lock_guard<std::mutex> g(write_mu_);
  for (int64_t s = 0; s < mem_.num_shards(); ++s)
    MSA_CHECK(mem_.shard_present(s), "cannot add documents while shard {} is unavailable (its ids would be unknown)", s);
  for (size_t i = 0; i < docs.size(); ++i) MSA_CHECK(!docs[i].text.empty(), "document {} of the batch has empty text", i);
  // External ids: unique across shards (each shard checks only its own).
  std::vector<std::string> ext;
  std::set<std::string> seen;
  for (const auto& d : docs)
    if (!d.external_id.empty()) {
      MSA_CHECK(seen.insert(d.external_id).second, "external id '{}' appears twice in one batch", d.external_id);
      ext.push_back(d.external_id);
    }
  ShardRequest find = request(ShardOp::FindExternal);
  find.external_ids = ext;
  if (!ext.empty())
    for (const auto& r : call_all(mem_, find))
      for (const auto& d : r.records)
        throw Error(fmt::format("external id '{}' is already used by document {} (update it instead)", d.external_id,
                                d.id));
  if (next_id_ < 0) {
    next_id_ = 0;
    for (const auto& r : call_all(mem_, request(ShardOp::Stats))) next_id_ = std::max(next_id_, r.next_id);
  }
  // Ids in request order; one commit per owning shard, all shards at once.
  std::map<int64_t, ShardRequest> by_shard;
  std::vector<int64_t> ids;
  for (const auto& d : docs) {
    const int64_t id = next_id_++;  // never reused, even if a shard refuses the batch below
    ids.push_back(id);
    ShardRequest& q = by_shard[owner(id)];
    q.op = ShardOp::Add;
    q.docs.push_back(d);
    q.ids.push_back(id);
  }
  std::vector<std::pair<int64_t, ShardRequest>> reqs(by_shard.begin(), by_shard.end());
  std::map<int64_t, engine::DocumentRecord> added;
  for (auto& r : call(mem_, reqs))
    for (auto& d : r.records) added[d.id] = std::move(d);
  std::vector<engine::DocumentRecord> out;
  for (int64_t id : ids)
    if (auto it = added.find(id); it != added.end()) out.push_back(std::move(it->second));
  return out;
}

std::optional<engine::DocumentRecord> ShardedService::update(int64_t id, const std::string& text,
                                                             const std::vector<std::string>& ns) {
  if (id < 0 || !mem_.shard_present(owner(id))) return std::nullopt;
  std::lock_guard<std::mutex> g(write_mu_);
  ShardRequest q = request(ShardOp::Update, id, ns);
  q.text = text;
  auto r = call_one(mem_, owner(id), q);
  if (r.records.empty()) return std::nullopt;
  return std::move(r.records[0]);
}

bool ShardedService::remove(int64_t id, const std::vector<std::string>& ns) {
  if (id < 0 || !mem_.shard_present(owner(id))) return false;
  std::lock_guard<std::mutex> g(write_mu_);
  return call_one(mem_, owner(id), request(ShardOp::Remove, id, ns)).total > 0;
}

}  // namespace msa::distributed
