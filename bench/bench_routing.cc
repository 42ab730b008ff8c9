// Routing at scale (issue 5): the fused routing index (memory::RoutingIndex)
// on synthetic banks at tiny-model and MSA-4B dims, against this machine's
// roofline measured in the same run, and against FAISS IndexFlatIP on the same
// keys. See docs/routing.md for what every column means.
//
//   bench_routing [--quick] [--no-faiss] [--max-tokens N] [--tokens N] [--dims tiny|msa4b]
//
// FAISS runs in a child process of this program (same deterministic bank and
// queries) started with OMP_WAIT_POLICY=PASSIVE and OPENBLAS_CORETYPE unset
// (docs/machine.md traps): OpenBLAS threads + idle spinning OpenMP threads
// would otherwise slow FAISS 3.4×, while our own kernel keeps the default policy.
#include <omp.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "common/honest_numbers.h"
#include "common/machine_limits.h"
#include "core/threads.h"
#include "core/timer.h"
#include "kernels/routing_scan.h"
#include "memory/routing_index.h"

#ifdef MSA_HAVE_FAISS
#include <faiss/IndexFlat.h>
#endif

using namespace msa;
using memory::KeyStorage;
using memory::RoutingIndex;
using memory::RoutingQuery;

namespace {

struct Dims {
  const char* name;
  int64_t Hkv, d, Hq, layers;
};
const Dims kDims[] = {{"tiny", 2, 32, 4, 0}, {"msa4b", 8, 128, 32, 18}};
constexpr int64_t kP = 64, kTopK = 16, kMaxDocChunks = 32;

// Deterministic pseudo-random values (same in the FAISS child).
inline uint64_t mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}
inline float unit(uint64_t h) { return float(int64_t(h >> 40) - (1ll << 23)) / float(1 << 23); }  // [-1, 1)

struct Bank {
  int64_t C = 0, D = 0;
  std::vector<int64_t> chunk_begin{0};
  std::vector<float> keys;  // [C][D] f32
};

Bank make_bank(const Dims& dm, int64_t tokens, uint64_t seed) {
  Bank b;
  b.D = dm.Hkv * dm.d;
  const int64_t want = std::max<int64_t>(1, tokens / kP);
  uint64_t s = seed;
  while (b.chunk_begin.back() < want) {
    const int64_t len = 1 + int64_t(mix(s++) % kMaxDocChunks);
    b.chunk_begin.push_back(std::min(want, b.chunk_begin.back() + len));
  }
  b.C = b.chunk_begin.back();
  b.keys.resize(size_t(b.C * b.D));
#pragma omp parallel for schedule(static)
  for (int64_t c = 0; c < b.C; ++c)
    for (int64_t e = 0; e < b.D; ++e) b.keys[size_t(c * b.D + e)] = unit(mix(seed * 1000003 + uint64_t(c * b.D + e)));
  return b;
}

std::vector<float> make_queries(const Dims& dm, int64_t M, uint64_t seed) {
  std::vector<float> u(size_t(M * dm.Hq * dm.d));
  const float s = 1.f / std::sqrt(float(dm.d));  // the reference's 1/√d scaling
  for (size_t i = 0; i < u.size(); ++i) u[i] = unit(mix(seed * 7919 + i)) * s;
  return u;
}

std::unique_ptr<RoutingIndex> build(const Dims& dm, const Bank& b, KeyStorage st) {
  auto idx = std::make_unique<RoutingIndex>(memory::RoutingIndexOptions{1, dm.Hkv, dm.d, st, 4});
  idx->reserve_chunks(b.C);
  for (size_t i = 0; i + 1 < b.chunk_begin.size(); ++i) {
    const float* p = b.keys.data() + b.chunk_begin[i] * b.D;
    idx->add(int64_t(i), 0, b.chunk_begin[i + 1] - b.chunk_begin[i], std::span<const float* const>(&p, 1));
  }
  return idx;
}

struct Timing {
  double min_ms = 0, med_ms = 0;
};
template <typename F>
Timing time_it(F&& f, int reps) {
  f();  // warm-up
  std::vector<double> t;
  for (int r = 0; r < reps; ++r) {
    Timer tm;
    f();
    t.push_back(tm.ms());
  }
  std::sort(t.begin(), t.end());
  return {t.front(), t[t.size() / 2]};
}

std::set<int64_t> doc_set(const std::vector<memory::DocScore>& v) {
  std::set<int64_t> s;
  for (auto& x : v) s.insert(x.doc);
  return s;
}

#ifdef MSA_HAVE_FAISS
// Child: FAISS IndexFlatIP over the same keys as f32; M folded query vectors
// (head-mean folded as our scan does), k' results per query vector, then the
// max over (token, chunk) per document and the top-k documents. With
// k' ≥ k · (max chunks per document) this is exactly our max/max/max routing:
// a chunk that beats the k-th document's best chunk for some token belongs to
// one of the better documents, of which there are < k.
int faiss_child(int dims_i, int64_t tokens, int64_t M, int64_t kprime, int reps) {
  const Dims& dm = kDims[dims_i];
  Bank b = make_bank(dm, tokens, 1);
  auto u = make_queries(dm, M, 2);
  kernels::ScanQuestion q{u.data(), M, dm.Hq, kernels::HeadReduce::Mean, kernels::QueryReduce::Max};
  auto qf = kernels::effective_query(kernels::ScanType::F32, q, dm.Hkv, dm.d);
  faiss::IndexFlatIP index(int(b.D));
  index.add(b.C, b.keys.data());
  std::vector<float> dist(size_t(M * kprime));
  std::vector<faiss::Index::idx_t> lab(size_t(M * kprime));
  std::vector<std::pair<float, int64_t>> top;
  auto run = [&] {
    index.search(M, qf.data(), kprime, dist.data(), lab.data());
    std::vector<float> best(b.chunk_begin.size() - 1, -INFINITY);
    for (size_t i = 0; i < lab.size(); ++i) {
      if (lab[i] < 0) continue;
      const int64_t doc = int64_t(std::upper_bound(b.chunk_begin.begin(), b.chunk_begin.end(), lab[i]) -
                                  b.chunk_begin.begin()) - 1;
      best[size_t(doc)] = std::max(best[size_t(doc)], dist[i]);
    }
    top.clear();
    for (size_t i = 0; i < best.size(); ++i)
      if (best[i] > -INFINITY) top.push_back({-best[i], int64_t(i)});
    std::partial_sort(top.begin(), top.begin() + std::min<size_t>(kTopK, top.size()), top.end());
    top.resize(std::min<size_t>(kTopK, top.size()));
  };
  Timing t = time_it(run, reps);
  std::printf("faiss %.4f %.4f", t.min_ms, t.med_ms);
  for (auto& x : top) std::printf(" %lld", (long long)x.second);
  std::printf("\n");
  return 0;
}
#endif

struct FaissResult {
  bool ok = false;
  Timing t;
  std::set<int64_t> docs;
};

FaissResult run_faiss(int dims_i, int64_t tokens, int64_t M, int64_t kprime, int reps) {
  FaissResult r;
#ifdef MSA_HAVE_FAISS
  char cmd[512];
  std::snprintf(cmd, sizeof cmd,
                "env -u OPENBLAS_CORETYPE OMP_WAIT_POLICY=PASSIVE /proc/%d/exe --faiss-child %d %lld %lld %lld %d",
                int(getpid()), dims_i, (long long)tokens, (long long)M, (long long)kprime, reps);
  FILE* p = popen(cmd, "r");
  if (!p) return r;
  char line[8192];
  if (fgets(line, sizeof line, p) && std::strncmp(line, "faiss ", 6) == 0) {
    char* s = line + 6;
    r.t.min_ms = std::strtod(s, &s);
    r.t.med_ms = std::strtod(s, &s);
    for (char* e; (void)(e = s), true;) {
      long long v = std::strtoll(s, &e, 10);
      if (e == s) break;
      r.docs.insert(v);
      s = e;
    }
    r.ok = true;
  }
  pclose(p);
#endif
  return r;
}

struct Metrics {
  double ratio_bf16 = 0, ratio_int8 = 0, speedup_int8_m4 = 0, speedup_faiss = 0, speedup_faiss_f32 = 0,
         ms_per_query = 0;
  bool set = false;
};

}  // namespace

int main(int argc, char** argv) {
#ifdef MSA_HAVE_FAISS
  if (argc >= 7 && std::strcmp(argv[1], "--faiss-child") == 0)
    return faiss_child(std::atoi(argv[2]), std::atoll(argv[3]), std::atoll(argv[4]), std::atoll(argv[5]),
                       std::atoi(argv[6]));
#endif
  bool quick = false, faiss = true;
  int64_t max_tokens = 100'000'000, only_tokens = 0;
  std::string only_dims;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--quick")) quick = true;
    else if (!std::strcmp(argv[i], "--no-faiss")) faiss = false;
    else if (!std::strcmp(argv[i], "--max-tokens") && i + 1 < argc) max_tokens = std::atoll(argv[++i]);
    else if (!std::strcmp(argv[i], "--tokens") && i + 1 < argc) only_tokens = std::atoll(argv[++i]);
    else if (!std::strcmp(argv[i], "--dims") && i + 1 < argc) only_dims = argv[++i];
  }
  const int nt = msa::num_threads();
  const int reps = quick ? 5 : 9;
  std::printf("# bench_routing: %d threads, paths bf16=%s int8=%s, FAISS %s\n", nt,
              kernels::routing_scan_path(kernels::ScanType::BF16), kernels::routing_scan_path(kernels::ScanType::Int8),
#ifdef MSA_HAVE_FAISS
              faiss ? "IndexFlatIP (child process, OMP_WAIT_POLICY=PASSIVE)" : "disabled (--no-faiss)"
#else
              "not built (libfaiss-dev missing)"
#endif
  );
  // Other processes share these 2 cores: every limit is re-measured around
  // each bank's timings and the best figure kept (the least disturbed probe),
  // just as the kernel times are the best of `reps`.
  double peak_bf16 = 0, peak_int8 = 0;
  auto probe_peaks = [&] {
    peak_bf16 = std::max(peak_bf16, bench::measure_bf16_peak_gflops(nt));
    peak_int8 = std::max(peak_int8, bench::measure_int8_peak_gops(nt));
  };
  probe_peaks();
  std::printf("# peaks measured now: bf16 %.0f GFLOP/s, int8 %.0f GOP/s (register-resident loops)\n\n", peak_bf16,
              peak_int8);

  struct Run {
    int dims;
    int64_t tokens;
  };
  std::vector<Run> runs;
  if (quick) {
    runs = {{0, 1'000'000}, {0, 4'000'000}, {1, 1'000'000}, {1, 4'000'000}};
  } else {
    runs = {{0, 1'000'000}, {0, 10'000'000}, {0, 100'000'000}, {1, 1'000'000}, {1, 10'000'000}, {1, 30'000'000}};
  }
  Metrics met;
  std::printf("| dims | tokens | chunks | fmt | M | ms/layer (min/med) | ms/query (all layers) | ns/token | GB/s | "
              "BW now GB/s | GFLOP/s | roofline ms | ratio |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
  struct FaissRow {
    std::string text;
  };
  std::vector<std::string> extra;
  for (const Run& r : runs) {
    if (r.tokens > max_tokens || (only_tokens && r.tokens != only_tokens)) continue;
    if (!only_dims.empty() && only_dims != kDims[r.dims].name) continue;
    const Dims& dm = kDims[r.dims];
    Bank b = make_bank(dm, r.tokens, 1);
    auto bf = build(dm, b, KeyStorage::BF16);
    auto i8 = build(dm, b, KeyStorage::Int8);
    const double bytes_bf = double(bf->scan_bytes(0)), bytes_i8 = double(i8->scan_bytes(0));
    double bw_bf = bench::measure_read_bandwidth_gbs(size_t(bytes_bf), nt);
    double bw_i8 = bench::measure_read_bandwidth_gbs(size_t(bytes_i8), nt);
    probe_peaks();
    const bool metric_run = dm.layers == 18 && r.tokens == (quick ? 4'000'000 : 10'000'000);
    double ms_bf_m4 = 0, ms_i8_m4 = 0, ms_bf_m128 = 0;
    std::vector<memory::DocScore> timed_bf_m128;  // the result of the timed bf16 run, compared with FAISS
    for (int64_t M : {int64_t(128), int64_t(4)}) {
      auto u = make_queries(dm, M, 2);
      RoutingQuery q{u.data(), M, dm.Hq, dm.d, kernels::HeadReduce::Mean, kernels::QueryReduce::Max,
                     kernels::ChunkReduce::Max, kTopK};
      std::vector<memory::DocScore> res_bf, res_i8, res_raw;
      Timing tb = time_it([&] { res_bf = bf->search(0, q); }, reps);
      Timing ti = time_it([&] { res_i8 = i8->search(0, q); }, reps);
      bw_bf = std::max(bw_bf, bench::measure_read_bandwidth_gbs(size_t(bytes_bf), nt));
      bw_i8 = std::max(bw_i8, bench::measure_read_bandwidth_gbs(size_t(bytes_i8), nt));
      probe_peaks();
      memory::SearchOptions raw;
      raw.int8_rescore = false;
      res_raw = i8->search(0, q, {}, raw);
      const double flops = 2.0 * double(M) * double(b.C) * double(b.D);
      auto row = [&](const char* fmt, const Timing& t, double bytes, double bw, double peak) {
        // A probe that returned 0 (no AVX-512 for the ISA peak) is an error, not an infinite roofline.
        const double roof = std::max(bench::require_ratio(bytes, bw * 1e9, "routing bytes ÷ read bandwidth"),
                                     bench::require_ratio(flops, peak * 1e9, "routing FLOPs ÷ ISA peak")) *
                            1e3;
        char q[32] = "-";
        if (dm.layers) std::snprintf(q, sizeof q, "%.2f", t.min_ms * double(dm.layers));
        std::printf("| %s | %lldM | %lld | %s | %lld | %.3f / %.3f | %s | %.3f | %.1f | %.1f | %.0f | %.3f | %.2f |\n",
                    dm.name, (long long)(r.tokens / 1000000), (long long)b.C, fmt, (long long)M, t.min_ms, t.med_ms,
                    q, t.min_ms * 1e6 / double(r.tokens), bytes / (t.min_ms * 1e6), bw, flops / (t.min_ms * 1e6),
                    roof, roof / t.min_ms);
        return roof / t.min_ms;
      };
      const double rb = row("bf16", tb, bytes_bf, bw_bf, peak_bf16);
      const double ri = row("int8+rescore", ti, bytes_i8, bw_i8, peak_int8);
      auto ex = doc_set(res_bf);
      size_t hit = 0, hit_raw = 0;
      for (auto& x : res_i8) hit += ex.count(x.doc);
      for (auto& x : res_raw) hit_raw += ex.count(x.doc);
      char buf[256];
      std::snprintf(buf, sizeof buf, "%s %lldM M=%lld: int8 recall@16 vs bf16 exact: raw %.3f, after 4k bf16 re-score %.3f",
                    dm.name, (long long)(r.tokens / 1000000), (long long)M, double(hit_raw) / double(ex.size()),
                    double(hit) / double(ex.size()));
      extra.push_back(buf);
      if (M == 4) {
        ms_bf_m4 = tb.min_ms;
        ms_i8_m4 = ti.min_ms;
      } else {
        ms_bf_m128 = tb.min_ms;
        timed_bf_m128 = res_bf;
        if (metric_run) {
          met.ratio_bf16 = rb;
          met.ratio_int8 = ri;
          met.ms_per_query = tb.min_ms * double(dm.layers);
        }
      }
    }
    // Batched questions: 16 questions × 8 tokens in one pass vs one by one.
    {
      const int nq = 16;
      const int64_t M = 8;
      std::vector<std::vector<float>> us;
      std::vector<RoutingQuery> qs;
      for (int i = 0; i < nq; ++i) {
        us.push_back(make_queries(dm, M, 100 + uint64_t(i)));
        qs.push_back({us.back().data(), M, dm.Hq, dm.d, kernels::HeadReduce::Mean, kernels::QueryReduce::Max,
                      kernels::ChunkReduce::Max, kTopK});
      }
      Timing tb = time_it([&] { bf->search_batch(0, qs); }, reps);
      Timing ts = time_it([&] { for (auto& q : qs) bf->search(0, q); }, std::max(1, reps / 2));
      char buf[256];
      std::snprintf(buf, sizeof buf, "%s %lldM batched 16 questions x 8 tokens (bf16): one pass %.3f ms, one by one %.3f ms (%.2fx)",
                    dm.name, (long long)(r.tokens / 1000000), tb.min_ms, ts.min_ms, ts.min_ms / tb.min_ms);
      extra.push_back(buf);
    }
    if (metric_run) met.speedup_int8_m4 = bench::require_ratio(ms_bf_m4, ms_i8_m4, "int8 routing time");
    if (faiss) {
      const int64_t kprime = kTopK * kMaxDocChunks;
      FaissResult fe = run_faiss(r.dims, r.tokens, 128, kprime, quick ? 2 : 3);
      FaissResult f16 = run_faiss(r.dims, r.tokens, 128, kTopK, quick ? 2 : 3);
      if (fe.ok) {
        // The timed bf16 result itself against FAISS's (f32) top-16: bf16 keys
        // may swap near-ties, so report the overlap rather than hide it.
        size_t overlap = 0;
        for (int64_t doc : doc_set(timed_bf_m128)) overlap += fe.docs.count(doc);
        const double vs_bf16 = bench::require_ratio(fe.t.min_ms, ms_bf_m128, "FAISS time ÷ our bf16 time");
        char buf[600];
        std::snprintf(buf, sizeof buf,
                      "%s %lldM M=128 FAISS IndexFlatIP f32: k'=%lld (exact) %.2f / %.2f ms, k'=16 (approx.) %.2f ms; "
                      "ours bf16 %.2f ms -> %.2fx (bf16 vs f32: different precision), timed bf16 top-16 = FAISS "
                      "top-16 on %zu of %zu",
                      dm.name, (long long)(r.tokens / 1000000), (long long)kprime, fe.t.min_ms, fe.t.med_ms,
                      f16.ok ? f16.t.min_ms : 0.0, ms_bf_m128, vs_bf16, overlap, fe.docs.size());
        extra.push_back(buf);
        if (metric_run) met.speedup_faiss = vs_bf16;
        // Like for like: our f32 index (same keys, same precision as FAISS),
        // timed the same way, and its result compared with FAISS's.
        if (double(b.C) * double(b.D) * 4 < 2e9) {
          auto f32 = build(dm, b, KeyStorage::F32);
          auto u = make_queries(dm, 128, 2);
          RoutingQuery q{u.data(), 128, dm.Hq, dm.d, kernels::HeadReduce::Mean, kernels::QueryReduce::Max,
                         kernels::ChunkReduce::Max, kTopK};
          std::vector<memory::DocScore> res_f32;
          Timing tf = time_it([&] { res_f32 = f32->search(0, q); }, reps);
          const double vs_f32 = bench::require_ratio(fe.t.min_ms, tf.min_ms, "FAISS time ÷ our f32 time");
          std::snprintf(buf, sizeof buf,
                        "%s %lldM M=128 f32 vs f32: ours %.2f / %.2f ms -> %.2fx vs exact-equivalent FAISS (%s)",
                        dm.name, (long long)(r.tokens / 1000000), tf.min_ms, tf.med_ms, vs_f32,
                        doc_set(res_f32) == fe.docs ? "same top-16" : "DIFFERENT top-16");
          extra.push_back(buf);
          if (metric_run) met.speedup_faiss_f32 = vs_f32;
        }
      }
    }
    if (metric_run) met.set = true;
    std::fflush(stdout);
  }
  std::printf("\n");
  for (auto& s : extra) std::printf("%s\n", s.c_str());
  std::printf("\n");
  if (met.set) {
    std::printf("metric: routing_roofline_ratio_bf16 = %.3f\n", met.ratio_bf16);
    std::printf("metric: routing_roofline_ratio_int8 = %.3f\n", met.ratio_int8);
    std::printf("metric: routing_speedup_int8_vs_bf16_m4 = %.3f\n", met.speedup_int8_m4);
    if (met.speedup_faiss > 0) std::printf("metric: routing_speedup_vs_faiss = %.3f\n", met.speedup_faiss);
    if (met.speedup_faiss_f32 > 0)
      std::printf("metric: routing_speedup_vs_faiss_f32 = %.3f\n", met.speedup_faiss_f32);
    std::printf("metric: routing_ms_per_query_10m = %.2f\n", met.ms_per_query);
  }
  return 0;
}
