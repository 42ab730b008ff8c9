// Memory parallel (issue 8): per-query latency and bytes moved per query vs
// number of MPI ranks, for one routing layer over a synthetic bank with the
// MSA-4B geometry (8 KV heads, d = 128, 32 query heads, pooling 64) — the
// routing index and protocol are the real ones (RoutingIndex bf16 scan,
// ShardedMemory / serve_shards); documents are random keys, and content K/V
// are generated from the document id when fetched (nothing else differs).
//
//   bench_memory_parallel [--quick] [--tokens N] [--queries Q] [--ranks 1,2,3] [--concurrent C]
// re-runs itself under `mpirun -np R` for each R (R = 1: one process, no MPI)
// and checks every R selects exactly what R = 1 selects. Then, for each R,
// C threads (default 4) query at once — as `msa serve` requests do — with
// routing rounds batched (one message per rank carries every query waiting)
// and not batched (one round per query): queries per second and queries per round.
#include <unistd.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "common/machine_limits.h"
#include "core/timer.h"
#include "distributed/sharded_memory.h"
#include "memory/routing_index.h"

namespace {

using namespace msa;

constexpr int64_t kHkv = 8, kD = 128, kHq = 32, kPool = 64, kDocTokens = 512, kTr = 64, kTopK = 16;

uint64_t mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}
void fill(uint64_t seed, float* p, size_t n) {
  for (size_t i = 0; i < n; ++i) p[i] = float(int64_t(mix(seed * 1315423911ull + i) >> 40) - (1 << 23)) / float(1 << 23);
}

// One shard of synthetic documents (ids ≡ shard mod num_shards).
class SyntheticShard : public memory::MemoryView {
 public:
  SyntheticShard(int64_t shard, int64_t num_shards, int64_t num_docs)
      : index_({1, kHkv, kD, memory::KeyStorage::BF16, 4}) {
    const int64_t C = kDocTokens / kPool;
    std::vector<float> keys(size_t(C * kHkv * kD));
    for (int64_t doc = shard; doc < num_docs; doc += num_shards) {
      fill(uint64_t(doc) * 2 + 1, keys.data(), keys.size());
      const float* p = keys.data();
      index_.add(doc, 0, C, std::span<const float* const>(&p, 1));
    }
  }
  const memory::TemplateKV& template_kv() const override { return tmpl_; }
  int64_t num_docs() const override { return index_.num_docs(); }
  std::vector<memory::DocScore> route(int slot, const memory::RoutingQuery& q) const override {
    return index_.route(slot, q);
  }
  int64_t append_chunks(int slot, int64_t doc, std::vector<float>* k, std::vector<float>* v) const override {
    if (!index_.contains(doc)) return 0;
    const int64_t C = kDocTokens / kPool;
    const size_t n = size_t(C * kHkv * kD);
    k->resize(k->size() + n);
    fill(uint64_t(doc) * 2 + 2, k->data() + k->size() - n, n);
    v->resize(v->size() + n);
    fill(uint64_t(doc) * 2 + 3, v->data() + v->size() - n, n);
    return C;
  }

 private:
  memory::RoutingIndex index_;
  memory::TemplateKV tmpl_;
};

distributed::LocalShards synthetic_shards(int rank, int world, int64_t num_docs) {
  distributed::LocalShards l;
  l.num_shards = world;
  l.ids.push_back(rank);
  auto shard = std::make_shared<SyntheticShard>(rank, world, num_docs);
  l.snapshot.push_back([shard](const std::vector<std::string>&) {
    return distributed::ShardSnapshot{shard, [](int64_t) { return std::nullopt; }};
  });
  l.errors.emplace_back();
  return l;
}

// The benchmark's routing query (4B geometry, mean over heads) over `u`.
memory::RoutingQuery bench_query(const float* u) {
  memory::RoutingQuery q;
  q.u = u;
  q.Tr = kTr;
  q.Hq = kHq;
  q.d = kD;
  q.k = kTopK;
  q.head_reduce = kernels::HeadReduce::Mean;
  return q;
}

int child(int64_t tokens, int queries) {
  distributed::Comm comm;
  const int64_t num_docs = tokens / kDocTokens;
  Timer build;
  auto local = synthetic_shards(comm.rank(), comm.size(), num_docs);
  if (comm.rank() != 0) {
    distributed::serve_shards(comm, std::move(local), 600);
    return 0;
  }
  const double build_s = build.ms() / 1000;
  distributed::ShardedMemory mem(comm, std::move(local), {{}, false, 600});
  auto snap = mem.snapshot({"*"});
  std::vector<float> u(size_t(kTr * kHq * kD));
  std::vector<double> lat;
  uint64_t digest = 0;
  const auto s0 = mem.stats();
  for (int qi = 0; qi < queries + 1; ++qi) {
    fill(1000003ull * uint64_t(qi + 1), u.data(), u.size());
    const memory::RoutingQuery q = bench_query(u.data());
    Timer t;
    const auto top = snap.view->route(0, q);
    std::vector<int64_t> docs;
    for (auto& s : top) docs.push_back(s.doc);
    std::sort(docs.begin(), docs.end());
    std::vector<float> k, v;
    int64_t rows = 0;
    for (int64_t d : docs) rows += snap.view->append_chunks(0, d, &k, &v);
    if (qi > 0) lat.push_back(t.ms());  // query 0 warms up
    for (auto& s : top) digest = mix(digest ^ uint64_t(s.doc) ^ (uint64_t(std::bit_cast<uint32_t>(s.score)) << 32));
    digest = mix(digest ^ uint64_t(rows));
  }
  const auto s1 = mem.stats();
  std::sort(lat.begin(), lat.end());
  double mean = 0;
  for (double x : lat) mean += x;
  mean /= double(lat.size());
  const double bytes = double((s1.bytes_sent - s0.bytes_sent) + (s1.bytes_received - s0.bytes_received)) / (queries + 1);
  std::printf("child ranks=%d docs=%lld tokens=%lld build_s=%.2f mean_ms=%.3f p50_ms=%.3f bytes=%.0f digest=%016llx\n",
              comm.size(), (long long)num_docs, (long long)(num_docs * kDocTokens), build_s, mean,
              lat[lat.size() / 2], bytes, (unsigned long long)digest);
  std::fflush(stdout);
  snap = {};
  mem.shutdown();
  return 0;
}

// C threads, each with its own snapshot, run `queries` queries (route + fetch).
int child_concurrent(int64_t tokens, int queries, int threads, bool batch) {
  distributed::Comm comm;
  const int64_t num_docs = tokens / kDocTokens;
  auto local = synthetic_shards(comm.rank(), comm.size(), num_docs);
  if (comm.rank() != 0) {
    distributed::serve_shards(comm, std::move(local), 600);
    return 0;
  }
  distributed::ShardOpenOptions o;
  o.timeout_s = 600;
  o.batch_routes = batch;
  distributed::ShardedMemory mem(comm, std::move(local), o);
  std::vector<uint64_t> digests(size_t(threads), 0);
  auto work = [&](int t, int n) {
    auto snap = mem.snapshot({"*"});
    std::vector<float> u(size_t(kTr * kHq * kD));
    for (int qi = 0; qi < n; ++qi) {
      fill(7777777ull * uint64_t(t + 1) + uint64_t(qi), u.data(), u.size());
      const memory::RoutingQuery q = bench_query(u.data());
      const auto top = snap.view->route(0, q);
      std::vector<float> k, v;
      int64_t rows = 0;
      for (auto& s : top) rows += snap.view->append_chunks(0, s.doc, &k, &v);
      uint64_t d = uint64_t(rows);
      for (auto& s : top) d = mix(d ^ uint64_t(s.doc) ^ (uint64_t(std::bit_cast<uint32_t>(s.score)) << 32));
      digests[size_t(t)] += mix(d);  // order-independent over the thread's queries
    }
  };
  work(0, 1);  // warm-up
  digests[0] = 0;
  const auto s0 = mem.stats();
  Timer t;
  std::vector<std::thread> pool;
  for (int i = 0; i < threads; ++i) pool.emplace_back(work, i, queries);
  for (auto& th : pool) th.join();
  const double sec = t.ms() / 1000;
  const auto s1 = mem.stats();
  uint64_t digest = 0;
  for (uint64_t d : digests) digest += d;
  const double per_round = s1.rounds > s0.rounds ? double(s1.routed_queries - s0.routed_queries) / double(s1.rounds - s0.rounds) : 1.0;
  std::printf("child ranks=%d qps=%.3f per_round=%.2f digest=%016llx\n", comm.size(), threads * queries / sec, per_round,
              (unsigned long long)digest);
  std::fflush(stdout);
  mem.shutdown();
  return 0;
}

std::string self_path() {
  char buf[4096];
  const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  return n > 0 ? std::string(buf, size_t(n)) : std::string("bench_memory_parallel");
}

}  // namespace

// Runs this program as a child (`--child ARGS`) under `mpirun -np n` (directly
// for n = 1) with `env_flag`=1 exported to every rank; returns its stdout.
std::string run_child(int n, const std::string& env_flag, const std::string& args) {
  std::string cmd = env_flag.empty() ? "" : env_flag + "=1 ";
  if (n > 1)
    cmd += "timeout 900 mpirun -np " + std::to_string(n) + " --allow-run-as-root --oversubscribe " +
           (env_flag.empty() ? "" : "-x " + env_flag + " ") + "--mca btl self,tcp --mca btl_tcp_if_include lo ";
  cmd += "'" + self_path() + "' --child" + args;
  FILE* p = ::popen(cmd.c_str(), "r");
  std::string out;
  std::array<char, 4096> buf;
  size_t k;
  while (p && (k = std::fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), k);
  if (p) ::pclose(p);
  return out;
}

int main(int argc, char** argv) {
  bool quick = false, is_child = false, batch = true;
  int concurrent = 4;
  int64_t tokens = 10'000'000;
  int queries = 20;
  std::string ranks = "1,2,3";
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--quick") quick = true;
    else if (a == "--child") is_child = true;
    else if (a == "--tokens" && i + 1 < argc) tokens = std::atoll(argv[++i]);
    else if (a == "--queries" && i + 1 < argc) queries = std::atoi(argv[++i]);
    else if (a == "--ranks" && i + 1 < argc) ranks = argv[++i];
    else if (a == "--concurrent" && i + 1 < argc) concurrent = std::atoi(argv[++i]);
    else if (a == "--no-batch") batch = false;
  }
  if (is_child && concurrent > 0 && std::getenv("MSA_BENCH_CONCURRENT")) return child_concurrent(tokens, queries, concurrent, batch);
  if (is_child) return child(tokens, queries);
  msa::bench::print_isa_path();
  if (quick) tokens = std::min<int64_t>(tokens, 1'000'000), queries = std::min(queries, 10);
  std::printf("memory parallel: one routing layer, 4B geometry (Hkv %lld, d %lld, Hq %lld, pool %lld), "
              "%lld-token docs, %lld routing tokens, top-%lld; bank %lld tokens\n",
              (long long)kHkv, (long long)kD, (long long)kHq, (long long)kPool, (long long)kDocTokens, (long long)kTr,
              (long long)kTopK, (long long)tokens);
  std::printf("%6s %12s %12s %16s  %s\n", "ranks", "mean ms", "p50 ms", "bytes/query", "same top-k as 1 rank");
  std::string base_digest;
  std::map<int, std::pair<double, double>> res;
  std::stringstream ss(ranks);
  for (std::string r; std::getline(ss, r, ',');) {
    const int n = std::atoi(r.c_str());
    const std::string out = run_child(n, "", " --tokens " + std::to_string(tokens) + " --queries " +
                                                 std::to_string(queries));
    const auto at = out.find("child ");
    if (at == std::string::npos) {
      std::printf("%6d  FAILED: %s\n", n, out.c_str());
      continue;
    }
    double mean = 0, p50 = 0, bytes = 0;
    char digest[32] = {0};
    const char* line = out.c_str() + at;
    std::sscanf(std::strstr(line, "mean_ms="), "mean_ms=%lf p50_ms=%lf bytes=%lf digest=%16s", &mean, &p50, &bytes,
                digest);
    if (base_digest.empty()) base_digest = digest;
    std::printf("%6d %12.3f %12.3f %16.0f  %s\n", n, mean, p50, bytes, base_digest == digest ? "yes" : "NO");
    res[n] = {mean, bytes};
  }
  // Concurrent queries: batched rounds vs one round per query.
  std::map<int, std::pair<double, double>> qps;  // ranks → (batched, unbatched)
  if (concurrent > 0) {
    std::printf("\n%d concurrent queries (threads on rank 0), %d queries each:\n", concurrent, queries);
    std::printf("%6s %14s %16s %16s %18s  %s\n", "ranks", "batched q/s", "queries/round", "unbatched q/s",
                "queries/round", "same top-k");
    std::string base;
    std::stringstream cs(ranks);
    for (std::string r; std::getline(cs, r, ',');) {
      const int n = std::atoi(r.c_str());
      double v[2] = {0, 0}, per[2] = {0, 0};
      bool same = true;
      for (int b = 0; b < 2; ++b) {
        const std::string out =
            run_child(n, "MSA_BENCH_CONCURRENT",
                      " --tokens " + std::to_string(tokens) + " --queries " + std::to_string(queries) +
                          " --concurrent " + std::to_string(concurrent) + (b ? " --no-batch" : ""));
        const auto at = out.find("child ");
        if (at == std::string::npos) {
          std::printf("%6d  FAILED: %s\n", n, out.c_str());
          same = false;
          continue;
        }
        char digest[32] = {0};
        std::sscanf(std::strstr(out.c_str() + at, "qps="), "qps=%lf per_round=%lf digest=%16s", &v[b], &per[b], digest);
        if (base.empty()) base = digest;
        same = same && base == digest;
      }
      std::printf("%6d %14.2f %16.2f %16.2f %18.2f  %s\n", n, v[0], per[0], v[1], per[1], same ? "yes" : "NO");
      qps[n] = {v[0], v[1]};
    }
  }
  for (auto& [n, v] : qps) {
    std::printf("metric: mp_concurrent_qps_batched_np%d = %.3f\n", n, v.first);
    std::printf("metric: mp_concurrent_qps_unbatched_np%d = %.3f\n", n, v.second);
  }
  for (auto& [n, mb] : res) {
    if (n < 2) continue;
    std::printf("metric: mp_bytes_per_query_np%d = %.0f\n", n, mb.second);
    std::printf("metric: mp_latency_ms_np%d = %.3f\n", n, mb.first);
  }
  if (res.contains(1)) std::printf("metric: mp_latency_ms_np1 = %.3f\n", res[1].first);
  return 0;
}
