#include "distributed/sharded_memory.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "engine/bank_service.h"

namespace msa::distributed {

namespace {

enum Tag : int { kTagHello = 101, kTagCmd = 102, kTagReply = 103 };
enum class Op : uint32_t { Snapshot = 1, Route = 2, Fetch = 3, Doc = 4, Release = 5, Stop = 6 };

// Single-process tie rule of MemoryView::route: score desc, lower id first.
void merge_top_k(std::vector<memory::DocScore>* all, int64_t k) {
  std::sort(all->begin(), all->end(), [](const memory::DocScore& a, const memory::DocScore& b) {
    return a.score != b.score ? a.score > b.score : a.doc < b.doc;
  });
  if (int64_t(all->size()) > k) all->resize(size_t(std::max<int64_t>(k, 0)));
}

// This rank's shards under one namespace restriction.
struct LocalView {
  int64_t num_shards = 0;
  std::vector<int64_t> ids;
  std::vector<ShardSnapshot> snaps;  // view null: shard missing

  LocalView(const LocalShards& l, const std::vector<std::string>& ns) : num_shards(l.num_shards), ids(l.ids) {
    for (const auto& open : l.snapshot) snaps.push_back(open ? open(ns) : ShardSnapshot{});
  }
  int64_t num_docs() const {
    int64_t n = 0;
    for (auto& s : snaps)
      if (s.view) n += s.view->num_docs();
    return n;
  }
  std::vector<memory::DocScore> route(int slot, const memory::RoutingQuery& q) const {
    std::vector<memory::DocScore> all;
    for (auto& s : snaps)
      if (s.view) {
        auto r = s.view->route(slot, q);
        all.insert(all.end(), r.begin(), r.end());
      }
    if (snaps.size() > 1) merge_top_k(&all, q.k);
    return all;
  }
  const ShardSnapshot* owner(int64_t doc) const {
    if (doc < 0) return nullptr;
    const int64_t s = shard_of(doc, num_shards);
    for (size_t i = 0; i < ids.size(); ++i)
      if (ids[i] == s && snaps[i].view) return &snaps[i];
    return nullptr;
  }
  int64_t append_chunks(int slot, int64_t doc, std::vector<float>* k, std::vector<float>* v) const {
    const auto* s = owner(doc);
    return s ? s->view->append_chunks(slot, doc, k, v) : 0;
  }
  std::optional<engine::CitedDocumentInfo> info(int64_t doc) const {
    const auto* s = owner(doc);
    return s ? s->info(doc) : std::nullopt;
  }
};

void put_query(Writer& w, int slot, const memory::RoutingQuery& q) {
  w.put<int32_t>(slot).put<int64_t>(q.Tr).put<int64_t>(q.Hq).put<int64_t>(q.d).put<int64_t>(q.k);
  w.put<uint8_t>(uint8_t(q.head_reduce)).put<uint8_t>(uint8_t(q.query_reduce)).put<uint8_t>(uint8_t(q.chunk_reduce));
  w.array(q.u, size_t(q.Tr * q.Hq * q.d));
}

void check_ok(Reader& r, int rank, const char* what) {
  if (r.get<uint8_t>()) return;
  throw Error(fmt::format("rank {} failed to {}: {}", rank, what, r.str()));
}

}  // namespace

LocalShards open_local_shards(const std::string& dir, const ShardManifest& m, int rank, int world,
                              const memory::BankOpenOptions& o) {
  LocalShards l;
  l.num_shards = m.num_shards;
  for (int64_t s = 0; s < m.num_shards; ++s) {
    if (s % world != rank) continue;
    l.ids.push_back(s);
    try {
      std::shared_ptr<memory::Bank> bank = memory::Bank::open(shard_path(dir, m, s), o);
      l.snapshot.push_back([bank](const std::vector<std::string>& ns) {
        const auto e = engine::make_snapshot(engine::all_namespaces(ns) ? bank->snapshot_all() : bank->snapshot(ns));
        return ShardSnapshot{e.view, e.info};
      });
      l.errors.emplace_back();
    } catch (const std::exception& e) {
      l.snapshot.emplace_back();
      l.errors.emplace_back(fmt::format("{}: {}", shard_path(dir, m, s), e.what()));
    }
  }
  return l;
}

// ---------------------------------------------------------------- rank 0

struct ShardedMemory::Impl {
  Comm& comm;
  LocalShards local;
  double timeout_s;
  std::vector<int> workers;  // ranks that take part
  std::mutex mu;             // one conversation with the workers at a time
  uint64_t next_snap = 1;
  bool stopped = false;
  ProtocolStats st;

  Impl(Comm& c, LocalShards l, double t) : comm(c), local(std::move(l)), timeout_s(t) {}
  int owner_rank(int64_t doc) const { return int(shard_of(doc, local.num_shards) % comm.size()); }
  bool takes_part(int rank) const { return std::find(workers.begin(), workers.end(), rank) != workers.end(); }
  void send(int rank, Writer& w) { comm.send(rank, kTagCmd, w.bytes(), timeout_s); }
  std::vector<uint8_t> recv(int rank) { return comm.recv(rank, kTagReply, timeout_s); }
};

namespace {

using Impl = ShardedMemory::Impl;

struct FetchedDoc {
  int64_t rows = 0;
  std::vector<float> k, v;
};

class ShardedMemoryView : public memory::MemoryView {
 public:
  ShardedMemoryView(std::shared_ptr<Impl> impl, uint64_t snap, LocalView local, int64_t remote_docs)
      : impl_(std::move(impl)), snap_(snap), local_(std::move(local)), num_docs_(local_.num_docs() + remote_docs) {
    for (size_t i = 0; i < local_.ids.size(); ++i)
      if (local_.ids[i] == 0) tmpl_ = local_.snaps[i].view;
    MSA_CHECK(tmpl_ != nullptr, "shard 0 (rank 0) is missing: it holds the template prefix every query needs");
  }
  ~ShardedMemoryView() override {
    std::lock_guard<std::mutex> g(impl_->mu);
    if (impl_->stopped || impl_->comm.broken) return;
    try {
      drain();
      Writer w;
      w.put<uint32_t>(uint32_t(Op::Release)).put<uint64_t>(snap_);
      for (int r : impl_->workers) impl_->send(r, w);
    } catch (...) {
    }
  }

  const memory::TemplateKV& template_kv() const override { return tmpl_->template_kv(); }
  int64_t num_docs() const override { return num_docs_; }

  std::vector<memory::DocScore> route(int slot, const memory::RoutingQuery& q) const override {
    std::lock_guard<std::mutex> g(impl_->mu);
    drain();
    cache_.clear();
    cache_slot_ = slot;
    // 1. query to every rank, then score the local shards while they score theirs.
    Writer w;
    w.put<uint32_t>(uint32_t(Op::Route)).put<uint64_t>(snap_);
    put_query(w, slot, q);
    for (int r : impl_->workers) impl_->send(r, w);
    std::vector<memory::DocScore> all = local_.route(slot, q);
    // 2. local top-k of every rank → global top-k.
    for (int r : impl_->workers) {
      const auto b = impl_->recv(r);
      Reader rd(b, "route reply");
      check_ok(rd, r, "route");
      const auto docs = rd.array<int64_t>();
      const auto scores = rd.array<float>();
      MSA_CHECK(docs.size() == scores.size(), "rank {}: malformed route reply", r);
      for (size_t i = 0; i < docs.size(); ++i) all.push_back({docs[i], scores[i]});
    }
    merge_top_k(&all, q.k);
    ++impl_->st.rounds;
    // 3. one fetch request per owner of selected documents; answered while
    //    the caller appends rank 0's own documents.
    std::map<int, std::vector<int64_t>> by_rank;
    for (const auto& s : all) {
      const int r = impl_->owner_rank(s.doc);
      if (r != 0 && impl_->takes_part(r)) by_rank[r].push_back(s.doc);
    }
    for (auto& [r, docs] : by_rank) request(r, slot, docs);
    return all;
  }

  int64_t append_chunks(int slot, int64_t doc, std::vector<float>* k_out, std::vector<float>* v_out) const override {
    std::lock_guard<std::mutex> g(impl_->mu);
    const int r = impl_->owner_rank(doc);
    if (r == 0) return local_.append_chunks(slot, doc, k_out, v_out);
    if (!impl_->takes_part(r)) return 0;
    if (slot != cache_slot_ || !cache_.contains(doc)) {
      if (!pending_.contains(r) || cache_slot_ != slot) {
        drain();
        cache_.clear();
        cache_slot_ = slot;
        request(r, slot, {doc});
      }
      collect(r);
    }
    auto it = cache_.find(doc);
    if (it == cache_.end()) return 0;
    const FetchedDoc& f = it->second;
    k_out->insert(k_out->end(), f.k.begin(), f.k.end());
    v_out->insert(v_out->end(), f.v.begin(), f.v.end());
    return f.rows;
  }

  std::optional<engine::CitedDocumentInfo> lookup(int64_t doc) const {
    std::lock_guard<std::mutex> g(impl_->mu);
    const int r = doc >= 0 ? impl_->owner_rank(doc) : 0;
    if (r == 0) return local_.info(doc);
    if (!impl_->takes_part(r)) return std::nullopt;
    drain();
    Writer w;
    w.put<uint32_t>(uint32_t(Op::Doc)).put<uint64_t>(snap_).put<int64_t>(doc);
    impl_->send(r, w);
    const auto b = impl_->recv(r);
    Reader rd(b, "document reply");
    check_ok(rd, r, "read a document");
    if (!rd.get<uint8_t>()) return std::nullopt;
    engine::CitedDocumentInfo info;
    info.external_id = rd.str();
    info.text = rd.str();
    return info;
  }

 private:
  void request(int r, int slot, const std::vector<int64_t>& docs) const {
    Writer w;
    w.put<uint32_t>(uint32_t(Op::Fetch)).put<uint64_t>(snap_).put<int32_t>(slot).array(docs.data(), docs.size());
    impl_->send(r, w);
    pending_[r] = docs;
    ++impl_->st.fetch_requests;
  }
  void collect(int r) const {
    auto it = pending_.find(r);
    if (it == pending_.end()) return;
    const std::vector<int64_t> docs = std::move(it->second);
    pending_.erase(it);
    const auto b = impl_->recv(r);
    Reader rd(b, "fetch reply");
    check_ok(rd, r, "fetch K/V");
    const auto rows = rd.array<int64_t>();
    const auto k = rd.array<float>();
    const auto v = rd.array<float>();
    MSA_CHECK(rows.size() == docs.size() && k.size() == v.size(), "rank {}: malformed fetch reply", r);
    int64_t total = 0;
    for (int64_t n : rows) total += n;
    const size_t row = total > 0 ? k.size() / size_t(total) : 0;
    MSA_CHECK(size_t(total) * row == k.size(), "rank {}: malformed fetch reply (rows)", r);
    size_t off = 0;
    for (size_t i = 0; i < docs.size(); ++i) {
      FetchedDoc f;
      f.rows = rows[i];
      const size_t n = size_t(rows[i]) * row;
      f.k.assign(k.begin() + long(off), k.begin() + long(off + n));
      f.v.assign(v.begin() + long(off), v.begin() + long(off + n));
      off += n;
      cache_[docs[i]] = std::move(f);
    }
  }
  // Replies still in flight must be read before the next command to that rank.
  void drain() const {
    while (!pending_.empty()) collect(pending_.begin()->first);
  }

  std::shared_ptr<Impl> impl_;
  uint64_t snap_;
  LocalView local_;
  int64_t num_docs_;
  std::shared_ptr<const memory::MemoryView> tmpl_;
  mutable std::map<int, std::vector<int64_t>> pending_;  // rank → requested docs
  mutable std::map<int64_t, FetchedDoc> cache_;          // fetched docs of cache_slot_
  mutable int cache_slot_ = -1;
};

}  // namespace

ShardedMemory::ShardedMemory(Comm& comm, LocalShards local, const ShardOpenOptions& o)
    : impl_(std::make_shared<Impl>(comm, std::move(local), o.timeout_s)) {
  MSA_CHECK(comm.rank() == 0, "internal: ShardedMemory lives on rank 0");
  auto& l = impl_->local;
  for (size_t i = 0; i < l.ids.size(); ++i)
    if (!l.errors[i].empty()) missing_.push_back(fmt::format("shard {} (rank 0): {}", l.ids[i], l.errors[i]));
  for (int r = 1; r < comm.size(); ++r) {
    try {
      const auto b = comm.recv(r, kTagHello, o.timeout_s);
      Reader rd(b, "hello");
      const auto ids = rd.array<int64_t>();
      for (int64_t id : ids) {
        const std::string err = rd.str();
        if (!err.empty()) missing_.push_back(fmt::format("shard {} (rank {}): {}", id, r, err));
      }
      impl_->workers.push_back(r);
    } catch (const Error& e) {
      if (!o.allow_missing) throw;
      missing_.push_back(fmt::format("rank {} (shards {} mod {}): {}", r, r, comm.size(), e.what()));
    }
  }
  if (!missing_.empty() && !o.allow_missing) {
    std::string all;
    for (auto& m : missing_) all += "\n  " + m;
    shutdown();
    throw Error(fmt::format("{} shard(s) unavailable (--allow-missing-shards answers without them):{}",
                            missing_.size(), all));
  }
}

void stop_workers(Comm& comm) {
  Writer w;
  w.put<uint32_t>(uint32_t(Op::Stop));
  for (int r = 1; r < comm.size(); ++r) {
    try {
      comm.send(r, kTagCmd, w.bytes(), 5.0);
    } catch (...) {
    }
  }
}

ShardedMemory::~ShardedMemory() { shutdown(); }

void ShardedMemory::shutdown() {
  std::lock_guard<std::mutex> g(impl_->mu);
  if (impl_->stopped) return;
  impl_->stopped = true;
  Writer w;
  w.put<uint32_t>(uint32_t(Op::Stop));
  for (int r : impl_->workers) {
    try {
      impl_->comm.send(r, kTagCmd, w.bytes(), 5.0);
    } catch (...) {
    }
  }
}

ProtocolStats ShardedMemory::stats() const {
  ProtocolStats s = impl_->st;
  s.bytes_sent = impl_->comm.bytes_sent;
  s.bytes_received = impl_->comm.bytes_received;
  return s;
}

engine::MemorySnapshot ShardedMemory::snapshot(const std::vector<std::string>& namespaces) {
  uint64_t id;
  int64_t remote_docs = 0;
  {
    std::lock_guard<std::mutex> g(impl_->mu);
    MSA_CHECK(!impl_->stopped, "sharded memory already shut down");
    id = impl_->next_snap++;
    Writer w;
    w.put<uint32_t>(uint32_t(Op::Snapshot)).put<uint64_t>(id).put<uint64_t>(namespaces.size());
    for (auto& n : namespaces) w.str(n);
    for (int r : impl_->workers) impl_->send(r, w);
    for (int r : impl_->workers) {
      const auto b = impl_->recv(r);
      Reader rd(b, "snapshot reply");
      check_ok(rd, r, "take a snapshot");
      remote_docs += rd.get<int64_t>();
    }
  }
  auto view = std::make_shared<ShardedMemoryView>(impl_, id, LocalView(impl_->local, namespaces), remote_docs);
  engine::MemorySnapshot s;
  s.view = view;
  s.text = [view](int64_t doc) -> std::optional<std::string> {
    auto d = view->lookup(doc);
    if (!d) return std::nullopt;
    return std::move(d->text);
  };
  s.info = [view](int64_t doc) { return view->lookup(doc); };
  return s;
}

// ---------------------------------------------------------------- ranks ≥ 1

void serve_shards(Comm& comm, LocalShards local, double timeout_s) {
  {
    Writer w;
    w.array(local.ids.data(), local.ids.size());
    for (auto& e : local.errors) w.str(e);
    comm.send(0, kTagHello, w.bytes(), timeout_s);
  }
  // Test hook (tests/distributed): this rank hangs after start-up, as a stuck host would.
  if (const char* stall = std::getenv("MSA_MP_STALL_RANK"); stall && std::atoi(stall) == comm.rank())
    for (;;) std::this_thread::sleep_for(std::chrono::seconds(1));
  std::map<uint64_t, LocalView> views;
  auto view = [&](uint64_t id) -> LocalView& {
    auto it = views.find(id);
    MSA_CHECK(it != views.end(), "unknown snapshot {}", id);
    return it->second;
  };
  for (;;) {
    const auto msg = comm.recv(0, kTagCmd, -1);  // idle until rank 0 speaks (mpirun ends us if it dies)
    Reader rd(msg, "command");
    const Op op = Op(rd.get<uint32_t>());
    if (op == Op::Stop) return;
    Writer out;
    try {
      switch (op) {
        case Op::Snapshot: {
          const uint64_t id = rd.get<uint64_t>();
          std::vector<std::string> ns(rd.get<uint64_t>());
          for (auto& n : ns) n = rd.str();
          auto [it, _] = views.insert_or_assign(id, LocalView(local, ns));
          out.put<uint8_t>(1).put<int64_t>(it->second.num_docs());
          break;
        }
        case Op::Release:
          views.erase(rd.get<uint64_t>());
          continue;  // no reply
        case Op::Route: {
          LocalView& v = view(rd.get<uint64_t>());
          memory::RoutingQuery q;
          const int slot = rd.get<int32_t>();
          q.Tr = rd.get<int64_t>();
          q.Hq = rd.get<int64_t>();
          q.d = rd.get<int64_t>();
          q.k = rd.get<int64_t>();
          q.head_reduce = kernels::HeadReduce(rd.get<uint8_t>());
          q.query_reduce = kernels::QueryReduce(rd.get<uint8_t>());
          q.chunk_reduce = kernels::ChunkReduce(rd.get<uint8_t>());
          const auto u = rd.array<float>();
          MSA_CHECK(int64_t(u.size()) == q.Tr * q.Hq * q.d, "malformed route command");
          q.u = u.data();
          const auto top = v.route(slot, q);
          std::vector<int64_t> docs;
          std::vector<float> scores;
          for (auto& s : top) docs.push_back(s.doc), scores.push_back(s.score);
          out.put<uint8_t>(1).array(docs.data(), docs.size()).array(scores.data(), scores.size());
          break;
        }
        case Op::Fetch: {
          LocalView& v = view(rd.get<uint64_t>());
          const int slot = rd.get<int32_t>();
          const auto docs = rd.array<int64_t>();
          std::vector<int64_t> rows;
          std::vector<float> k, vv;
          for (int64_t d : docs) rows.push_back(v.append_chunks(slot, d, &k, &vv));
          out.put<uint8_t>(1).array(rows.data(), rows.size()).array(k.data(), k.size()).array(vv.data(), vv.size());
          break;
        }
        case Op::Doc: {
          LocalView& v = view(rd.get<uint64_t>());
          const int64_t doc = rd.get<int64_t>();
          const auto d = v.info(doc);
          out.put<uint8_t>(1).put<uint8_t>(d ? 1 : 0);
          if (d) out.str(d->external_id).str(d->text);
          break;
        }
        default:
          throw Error(fmt::format("unknown command {}", uint32_t(op)));
      }
    } catch (const std::exception& e) {
      out = Writer();
      out.put<uint8_t>(0).str(e.what());
    }
    comm.send(0, kTagReply, out.bytes(), timeout_s);
  }
}

}  // namespace msa::distributed
