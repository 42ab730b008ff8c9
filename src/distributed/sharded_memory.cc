#include "distributed/sharded_memory.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <thread>

#include "distributed/shard_requests.h"
#include "distributed/wire_frames.h"
#include "engine/bank_service.h"

namespace msa::distributed {

namespace {

enum Tag : int { kTagHello = 101, kTagCmd = 102, kTagReply = 103 };
// Every command: [u32 op][u64 request id][body]; every reply: [u64 request id][u8 ok][body | error text].
// Route carries a batch: [u64 n] then n × [u64 snapshot][query]; its reply n × [u8 ok][top-k | error].
enum class Op : uint32_t { Snapshot = 1, Route = 2, Fetch = 3, Doc = 4, Release = 5, Stop = 6, Shard = 7 };
using Clock = std::chrono::steady_clock;

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

// Reads a reply's header (request id, ok flag); throws the worker's error.
Reader open_reply(const std::vector<uint8_t>& b, int rank, const char* what) {
  Reader r(b, what);
  r.get<uint64_t>();
  if (!r.get<uint8_t>()) throw Error(fmt::format("rank {} failed to {}: {}", rank, what, r.str()));
  return r;
}

// One routing query of one snapshot waiting for (or carried by) a round.
struct RouteJob {
  uint64_t snap = 0;
  int slot = 0;
  const memory::RoutingQuery* q = nullptr;
  const LocalView* local = nullptr;
  std::vector<memory::DocScore> remote;  // the other ranks' local top-k
  std::exception_ptr error;
  bool sent = false, done = false;  // batching: query on the wire / replies in
};

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
      l.banks.push_back(bank);
      l.errors.emplace_back();
    } catch (const std::exception& e) {
      l.snapshot.emplace_back();
      l.banks.emplace_back();
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
  bool batch_routes;
  std::vector<int> workers;         // ranks that take part
  std::vector<char> present;        // by shard: open on a rank that takes part
  std::mutex mu;                    // every MPI call, the mailbox, the counters
  std::map<std::pair<int, uint64_t>, std::vector<uint8_t>> mailbox;  // (rank, request) → reply
  uint64_t next_snap = 1, next_req = 1;
  bool stopped = false;
  ProtocolStats st;
  // Route batching: the thread that finds no round in flight leads the next
  // one, carrying every query queued meanwhile.
  std::mutex batch_mu;
  std::condition_variable batch_cv;
  bool round_active = false;
  std::vector<RouteJob*> queue;

  Impl(Comm& c, LocalShards l, double t, bool b) : comm(c), local(std::move(l)), timeout_s(t), batch_routes(b) {}
  int owner_rank(int64_t doc) const { return int(shard_of(doc, local.num_shards) % comm.size()); }
  bool takes_part(int rank) const { return std::find(workers.begin(), workers.end(), rank) != workers.end(); }

  // Sends one command (same request id) to each of `ranks` without waiting; returns the id.
  template <class F>
  uint64_t post(const std::vector<int>& ranks, Op op, F body) {
    std::lock_guard<std::mutex> g(mu);
    MSA_CHECK(!stopped, "sharded memory already shut down");
    MSA_CHECK(!comm.broken, "a rank stopped answering earlier: the sharded memory is unusable");
    const uint64_t req = next_req++;
    Writer w;
    w.put<uint32_t>(uint32_t(op)).put<uint64_t>(req);
    body(w);
    for (int r : ranks) comm.post(r, kTagCmd, w.bytes(), timeout_s);
    return req;
  }
  // The reply to request `req` from `rank` (replies for other threads go to the mailbox).
  std::vector<uint8_t> await(int rank, uint64_t req) {
    const auto deadline = Clock::now() + std::chrono::microseconds(int64_t(timeout_s * 1e6));
    const auto t0 = Clock::now();
    for (int i = 0;; ++i) {
      {
        std::lock_guard<std::mutex> g(mu);
        auto it = mailbox.find({rank, req});
        if (it != mailbox.end()) {
          auto b = std::move(it->second);
          mailbox.erase(it);
          return b;
        }
        comm.progress();
        while (auto b = comm.try_recv(rank, kTagReply)) {
          MSA_CHECK(b->size() >= 9, "malformed reply from rank {} ({} bytes)", rank, b->size());
          uint64_t id;
          std::memcpy(&id, b->data(), sizeof id);
          if (id == req) return std::move(*b);
          mailbox[{rank, id}] = std::move(*b);
        }
      }
      const auto now = Clock::now();
      if (now > deadline) {
        comm.broken = true;
        throw Error(fmt::format("rank {} did not answer within {:.0f} s (dead or hung?)", rank, timeout_s));
      }
      if (i < 200) std::this_thread::yield();
      else std::this_thread::sleep_for(std::chrono::microseconds(now - t0 < std::chrono::seconds(1) ? 20 : 1000));
    }
  }

  // A round for `jobs`: one message to every rank carrying all their queries.
  uint64_t post_round(const std::vector<RouteJob*>& jobs) {
    {
      std::lock_guard<std::mutex> g(mu);
      ++st.rounds;
      st.routed_queries += jobs.size();
    }
    if (workers.empty()) return 0;
    return post(workers, Op::Route, [&](Writer& w) {
      w.put<uint64_t>(jobs.size());
      for (auto* j : jobs) {
        w.put<uint64_t>(j->snap);
        put_route_query(w, j->slot, *j->q);
      }
    });
  }
  // One reply per rank: every job gets the other ranks' local top-k or an error.
  void collect_round(const std::vector<RouteJob*>& jobs, uint64_t req) {
    std::exception_ptr first;
    for (int r : workers) {
      try {
        const auto b = await(r, req);
        Reader rd = open_reply(b, r, "route");
        MSA_CHECK(rd.get<uint64_t>() == jobs.size(), "rank {}: malformed route reply", r);
        for (auto* j : jobs) {
          const RouteResultFrame res = get_route_result(rd);
          if (!res.ok) {
            if (!j->error) j->error = std::make_exception_ptr(Error(fmt::format("rank {} failed to route: {}", r, res.error)));
            continue;
          }
          for (size_t i = 0; i < res.docs.size(); ++i) j->remote.push_back({res.docs[i], res.scores[i]});
        }
      } catch (...) {
        if (!first) first = std::current_exception();
        if (comm.broken) break;
      }
    }
    if (first)
      for (auto* j : jobs)
        if (!j->error) j->error = first;
  }

  // Global top-k of one routing query. Batched: the thread that finds no round
  // in flight leads the next one, sending every query queued meanwhile in one
  // message per rank and gathering the replies; every thread scores rank 0's
  // own shards for its query itself, in parallel with the other ranks.
  std::vector<memory::DocScore> route(RouteJob& job) {
    if (!batch_routes) {
      uint64_t req = 0;
      try {
        req = post_round({&job});
      } catch (...) {
        job.error = std::current_exception();
      }
      auto result = job.error ? std::vector<memory::DocScore>{} : job.local->route(job.slot, *job.q);
      if (!job.error) collect_round({&job}, req);
      return finish(job, std::move(result));
    }
    std::unique_lock<std::mutex> lk(batch_mu);
    queue.push_back(&job);
    batch_cv.wait(lk, [&] { return job.sent || !round_active; });
    std::vector<RouteJob*> jobs;
    uint64_t req = 0;
    const bool leader = !job.sent;
    if (leader) {
      round_active = true;
      jobs.swap(queue);
      lk.unlock();
      std::exception_ptr err;
      try {
        req = post_round(jobs);
      } catch (...) {
        err = std::current_exception();
      }
      lk.lock();
      for (auto* j : jobs) {
        j->sent = true;
        if (err) j->error = err;
      }
      batch_cv.notify_all();
    }
    const bool failed = job.error != nullptr;
    lk.unlock();
    auto result = failed ? std::vector<memory::DocScore>{} : job.local->route(job.slot, *job.q);
    lk.lock();
    if (leader) {
      lk.unlock();
      if (!failed) collect_round(jobs, req);
      lk.lock();
      for (auto* j : jobs) j->done = true;
      round_active = false;
      batch_cv.notify_all();
    } else {
      batch_cv.wait(lk, [&] { return job.done; });
    }
    lk.unlock();
    return finish(job, std::move(result));
  }
  static std::vector<memory::DocScore> finish(RouteJob& job, std::vector<memory::DocScore> result) {
    if (job.error) std::rethrow_exception(job.error);
    result.insert(result.end(), job.remote.begin(), job.remote.end());
    merge_top_k(&result, job.q->k);
    return result;
  }
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
    if (impl_->workers.empty() || impl_->comm.broken) return;
    try {
      drain();
      impl_->post(impl_->workers, Op::Release, [&](Writer& w) { w.put<uint64_t>(snap_); });
    } catch (...) {
    }
  }

  const memory::TemplateKV& template_kv() const override { return tmpl_->template_kv(); }
  int64_t num_docs() const override { return num_docs_; }

  // One view is used by one thread at a time (a session); different views
  // (concurrent requests) share the ranks through the Impl.
  std::vector<memory::DocScore> route(int slot, const memory::RoutingQuery& q) const override {
    drain();
    cache_.clear();
    cache_slot_ = slot;
    // 1.+2. query to every rank (batched with concurrent ones), local scoring, global top-k.
    RouteJob job;
    job.snap = snap_;
    job.slot = slot;
    job.q = &q;
    job.local = &local_;
    std::vector<memory::DocScore> top = impl_->route(job);
    // 3. one fetch request per owner of selected documents; answered while
    //    the caller appends rank 0's own documents.
    std::map<int, std::vector<int64_t>> by_rank;
    for (const auto& s : top) {
      const int r = impl_->owner_rank(s.doc);
      if (r != 0 && impl_->takes_part(r)) by_rank[r].push_back(s.doc);
    }
    for (auto& [r, docs] : by_rank) request(r, slot, docs);
    return top;
  }

  int64_t append_chunks(int slot, int64_t doc, std::vector<float>* k_out, std::vector<float>* v_out) const override {
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
    const int r = doc >= 0 ? impl_->owner_rank(doc) : 0;
    if (r == 0) return local_.info(doc);
    if (!impl_->takes_part(r)) return std::nullopt;
    const uint64_t req = impl_->post({r}, Op::Doc, [&](Writer& w) { w.put<uint64_t>(snap_).put<int64_t>(doc); });
    const auto b = impl_->await(r, req);
    Reader rd = open_reply(b, r, "read a document");
    if (!rd.get<uint8_t>()) return std::nullopt;
    engine::CitedDocumentInfo info;
    info.external_id = rd.str();
    info.text = rd.str();
    return info;
  }

 private:
  struct Pending {
    uint64_t req = 0;
    std::vector<int64_t> docs;
  };
  void request(int r, int slot, const std::vector<int64_t>& docs) const {
    const uint64_t req = impl_->post({r}, Op::Fetch, [&](Writer& w) {
      w.put<uint64_t>(snap_).put<int32_t>(slot).array(docs.data(), docs.size());
    });
    pending_[r] = Pending{req, docs};
    std::lock_guard<std::mutex> g(impl_->mu);
    ++impl_->st.fetch_requests;
  }
  void collect(int r) const {
    auto it = pending_.find(r);
    if (it == pending_.end()) return;
    const Pending p = std::move(it->second);
    pending_.erase(it);
    const auto b = impl_->await(r, p.req);
    Reader rd = open_reply(b, r, "fetch K/V");
    const auto rows = rd.array<int64_t>();
    const auto k = rd.array<float>();
    const auto v = rd.array<float>();
    MSA_CHECK(rows.size() == p.docs.size() && k.size() == v.size(), "rank {}: malformed fetch reply", r);
    int64_t total = 0;
    for (int64_t n : rows) total += n;
    const size_t row = total > 0 ? k.size() / size_t(total) : 0;
    MSA_CHECK(size_t(total) * row == k.size(), "rank {}: malformed fetch reply (rows)", r);
    size_t off = 0;
    for (size_t i = 0; i < p.docs.size(); ++i) {
      FetchedDoc f;
      f.rows = rows[i];
      const size_t n = size_t(rows[i]) * row;
      f.k.assign(k.begin() + long(off), k.begin() + long(off + n));
      f.v.assign(v.begin() + long(off), v.begin() + long(off + n));
      off += n;
      cache_[p.docs[i]] = std::move(f);
    }
  }
  // Replies still in flight are consumed before the next round of this view.
  void drain() const {
    while (!pending_.empty()) collect(pending_.begin()->first);
  }

  std::shared_ptr<Impl> impl_;
  uint64_t snap_;
  LocalView local_;
  int64_t num_docs_;
  std::shared_ptr<const memory::MemoryView> tmpl_;
  mutable std::map<int, Pending> pending_;        // rank → fetch in flight
  mutable std::map<int64_t, FetchedDoc> cache_;  // fetched docs of cache_slot_
  mutable int cache_slot_ = -1;
};

}  // namespace

ShardedMemory::ShardedMemory(Comm& comm, LocalShards local, const ShardOpenOptions& o)
    : impl_(std::make_shared<Impl>(comm, std::move(local), o.timeout_s, o.batch_routes)) {
  MSA_CHECK(comm.rank() == 0, "internal: ShardedMemory lives on rank 0");
  auto& l = impl_->local;
  impl_->present.assign(size_t(l.num_shards), 0);
  for (size_t i = 0; i < l.ids.size(); ++i) {
    if (!l.errors[i].empty()) missing_.push_back(fmt::format("shard {} (rank 0): {}", l.ids[i], l.errors[i]));
    else impl_->present[size_t(l.ids[i])] = 1;
  }
  for (int r = 1; r < comm.size(); ++r) {
    try {
      const auto b = comm.recv(r, kTagHello, o.timeout_s);
      Reader rd(b, "hello");
      const auto ids = rd.array<int64_t>();
      std::vector<int64_t> ok;
      for (int64_t id : ids) {
        const std::string err = rd.str();
        MSA_CHECK(id >= 0 && id < l.num_shards, "rank {} reports shard {} of {}", r, id, l.num_shards);
        if (!err.empty()) missing_.push_back(fmt::format("shard {} (rank {}): {}", id, r, err));
        else ok.push_back(id);
      }
      impl_->workers.push_back(r);
      for (int64_t id : ok) impl_->present[size_t(id)] = 1;
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
  w.put<uint32_t>(uint32_t(Op::Stop)).put<uint64_t>(0);
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
  w.put<uint32_t>(uint32_t(Op::Stop)).put<uint64_t>(0);
  for (int r : impl_->workers) {
    try {
      impl_->comm.send(r, kTagCmd, w.bytes(), 5.0);
    } catch (...) {
    }
  }
}

ProtocolStats ShardedMemory::stats() const {
  std::lock_guard<std::mutex> g(impl_->mu);
  ProtocolStats s = impl_->st;
  s.bytes_sent = impl_->comm.bytes_sent;
  s.bytes_received = impl_->comm.bytes_received;
  return s;
}

int64_t ShardedMemory::num_shards() const { return impl_->local.num_shards; }

bool ShardedMemory::shard_present(int64_t shard) const {
  return shard >= 0 && shard < impl_->local.num_shards && impl_->present[size_t(shard)];
}

std::vector<std::vector<uint8_t>> ShardedMemory::shard_calls(
    const std::vector<std::pair<int64_t, std::vector<uint8_t>>>& calls) {
  Impl& im = *impl_;
  for (const auto& [shard, _] : calls)
    MSA_CHECK(shard_present(shard), "shard {} is unavailable (it failed to open: see the start-up report)", shard);
  std::vector<std::vector<uint8_t>> out(calls.size());
  std::vector<std::pair<size_t, uint64_t>> remote;  // call → request id
  for (size_t i = 0; i < calls.size(); ++i) {
    const int r = int(calls[i].first % im.comm.size());
    if (r != 0)
      remote.emplace_back(i, im.post({r}, Op::Shard, [&](Writer& w) {
        w.put<int64_t>(calls[i].first).array(calls[i].second.data(), calls[i].second.size());
      }));
  }
  for (size_t i = 0; i < calls.size(); ++i) {
    if (calls[i].first % im.comm.size() != 0) continue;
    std::shared_ptr<memory::Bank> bank;
    for (size_t k = 0; k < im.local.ids.size(); ++k)
      if (im.local.ids[k] == calls[i].first && k < im.local.banks.size()) bank = im.local.banks[k];
    out[i] = handle_shard_request(bank, calls[i].second);
  }
  std::exception_ptr first;
  for (auto& [i, req] : remote) {
    const int r = int(calls[i].first % im.comm.size());
    try {
      const auto b = im.await(r, req);
      Reader rd = open_reply(b, r, "run a shard request");
      out[i] = rd.array<uint8_t>();
    } catch (...) {
      if (!first) first = std::current_exception();
      if (im.comm.broken) break;
    }
  }
  if (first) std::rethrow_exception(first);
  return out;
}

engine::MemorySnapshot ShardedMemory::snapshot(const std::vector<std::string>& namespaces) {
  Impl& im = *impl_;
  uint64_t id;
  {
    std::lock_guard<std::mutex> g(im.mu);
    MSA_CHECK(!im.stopped, "sharded memory already shut down");
    id = im.next_snap++;
  }
  int64_t remote_docs = 0;
  if (!im.workers.empty()) {
    const uint64_t req = im.post(im.workers, Op::Snapshot, [&](Writer& w) {
      w.put<uint64_t>(id);
      put_strings(w, namespaces);
    });
    for (int r : im.workers) {
      const auto b = im.await(r, req);
      Reader rd = open_reply(b, r, "take a snapshot");
      remote_docs += rd.get<int64_t>();
    }
  }
  auto view = std::make_shared<ShardedMemoryView>(impl_, id, LocalView(im.local, namespaces), remote_docs);
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
    const uint64_t req = rd.get<uint64_t>();
    if (op == Op::Stop) return;
    Writer out;
    out.put<uint64_t>(req);
    try {
      switch (op) {
        case Op::Snapshot: {
          const uint64_t id = rd.get<uint64_t>();
          const std::vector<std::string> ns = get_strings(rd);
          auto [it, _] = views.insert_or_assign(id, LocalView(local, ns));
          out.put<uint8_t>(1).put<int64_t>(it->second.num_docs());
          break;
        }
        case Op::Release:
          views.erase(rd.get<uint64_t>());
          continue;  // no reply
        case Op::Route: {
          const std::vector<RouteQueryFrame> batch = get_route_batch(rd);
          out.put<uint8_t>(1).put<uint64_t>(batch.size());
          for (const RouteQueryFrame& f : batch) {
            RouteResultFrame res;
            try {
              for (auto& s : view(f.snap).route(f.slot, f.q)) res.docs.push_back(s.doc), res.scores.push_back(s.score);
              res.ok = true;
            } catch (const std::exception& e) {
              res = RouteResultFrame();
              res.error = e.what();
            }
            put_route_result(out, res);
          }
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
        case Op::Shard: {
          const int64_t shard = rd.get<int64_t>();
          const auto request = rd.array<uint8_t>();
          std::shared_ptr<memory::Bank> bank;
          for (size_t k = 0; k < local.ids.size(); ++k)
            if (local.ids[k] == shard && k < local.banks.size()) bank = local.banks[k];
          const auto reply = handle_shard_request(bank, request);
          out.put<uint8_t>(1).array(reply.data(), reply.size());
          break;
        }
        default:
          throw Error(fmt::format("unknown command {}", uint32_t(op)));
      }
    } catch (const std::exception& e) {
      out = Writer();
      out.put<uint64_t>(req).put<uint8_t>(0).str(e.what());
    }
    comm.send(0, kTagReply, out.bytes(), timeout_s);
  }
}

}  // namespace msa::distributed
