// Dense matmul against this machine's limits measured in the same run:
// GEMM (T = 512, prefill) in GFLOP/s vs the vdpbf16ps / FMA peak, and GEMV
// (T = 1, decode) in GB/s of weights vs a read-bandwidth probe over a buffer
// as large as the weights. Shapes: Qwen3-0.6B-like (K = 1024) and 4B-like
// (K = 2560, and the K = 9728 down projection).
//
//   bench_matmul [--quick] [--threads N]
#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <string>
#include <vector>

#include "common/machine_limits.h"
#include "core/aligned_buffer.h"
#include "core/half.h"
#include "core/threads.h"
#include "core/timer.h"
#include "kernels/matmul.h"

using namespace msa;
using msa::kernels::WeightView;
using msa::kernels::WType;

namespace {

struct Shape {
  const char* name;
  int64_t N, K;
};

// Deterministic pseudo-random values in [-1, 1), filled in parallel (the
// 151936×1024 f32 lm_head is 622 MB).
inline float hash_value(uint64_t i) {
  i = (i + 0x9e3779b97f4a7c15ull) * 0xbf58476d1ce4e5b9ull;
  i ^= i >> 31;
  return float(int64_t(i >> 40) - (int64_t(1) << 23)) / float(1 << 23);
}

template <class T, class F>
void fill(AlignedBuffer<T>& b, F f) {
  const int64_t n = int64_t(b.size());
#pragma omp parallel for num_threads(msa::num_threads()) schedule(static)
  for (int64_t i = 0; i < n; ++i) b[size_t(i)] = f(uint64_t(i));
}

double process_cpu_seconds() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

struct Timing {
  double wall;      // best wall-clock seconds of one call
  double cpu_wall;  // best (process CPU seconds / threads) of one call: the wall time it
                    // would take with the cores to itself (other processes share them)
};

// Best of `reps` calls (after one warm-up call).
Timing time_matmul(const float* x, int64_t T, const WeightView& w, float* y, int reps, int threads) {
  kernels::matmul(x, T, w, y);
  Timing best{1e30, 1e30};
  for (int r = 0; r < reps; ++r) {
    const double c0 = process_cpu_seconds();
    Timer t;
    kernels::matmul(x, T, w, y);
    best.wall = std::min(best.wall, t.seconds());
    best.cpu_wall = std::min(best.cpu_wall, (process_cpu_seconds() - c0) / threads);
  }
  return best;
}

std::string load_average() {
  std::string s = "?\n";
  if (FILE* f = std::fopen("/proc/loadavg", "r")) {
    char buf[128];
    if (std::fgets(buf, sizeof buf, f)) s = buf;
    std::fclose(f);
  }
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  msa::bench::print_isa_path();
  bool quick = false;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--quick") == 0) quick = true;
    else if (std::strcmp(argv[i], "--threads") == 0 && i + 1 < argc) msa::set_num_threads(std::atoi(argv[++i]));
    else {
      std::fprintf(stderr, "usage: bench_matmul [--quick] [--threads N]\n");
      return 1;
    }
  }
  const int threads = msa::num_threads();
  const int64_t kGemmT = 512;
  const int gemm_reps = quick ? 2 : 4, gemv_reps = quick ? 5 : 15;

  // Other processes share these two cores, so every limit is re-measured next
  // to the kernel it is compared with and the best (least disturbed) probe wins:
  // GEMM vs the best peak probe of the whole run (a machine constant), GEMV vs
  // the best of the two bandwidth probes taken just before and after it over a
  // buffer of the weights' size (bandwidth depends on size: caches).
  double bf16_peak = bench::measure_bf16_peak_gflops(threads);
  double f32_peak = bench::measure_fp32_peak_gflops(threads);
  std::printf("threads %d, load average at start: %s", threads, load_average().c_str());

  const std::vector<Shape> shapes = {
      {"0.6B q/o 1024x1024", 1024, 1024},     {"0.6B q 2048x1024", 2048, 1024},
      {"0.6B mlp 3072x1024", 3072, 1024},     {"0.6B lm_head 151936x1024", 151936, 1024},
      {"4B q 4096x2560", 4096, 2560},         {"4B gate/up 9728x2560", 9728, 2560},
      {"4B down 2560x9728", 2560, 9728},
  };

  AlignedBuffer<float> x(size_t(kGemmT) * 9728), y(size_t(kGemmT) * 151936);
  fill(x, [](uint64_t i) { return hash_value(i ^ 0x5555); });

  struct Row {
    std::string shape, type, path;
    int64_t T;
    double sec, gflops, gbs, limit;  // limit: GB/s for GEMV rows; GEMM rows use the run's peak
    double cpu_gflops;               // GFLOP/s from CPU time (see Timing::cpu_wall)
    bool gemm;
  };
  std::vector<Row> rows;
  for (const Shape& s : shapes) {
    for (WType type : {WType::BF16, WType::F32}) {
      const size_t n = size_t(s.N * s.K);
      AlignedBuffer<float> wf;
      AlignedBuffer<uint16_t> wb;
      WeightView w{nullptr, type, s.N, s.K};
      if (type == WType::F32) {
        wf.resize(n);
        fill(wf, [](uint64_t i) { return hash_value(i); });
        w.data = wf.data();
      } else {
        wb.resize(n);
        fill(wb, [](uint64_t i) { return f32_to_bf16(hash_value(i)); });
        w.data = wb.data();
      }
      const double wbytes = double(n) * (type == WType::F32 ? 4 : 2);
      const char* tname = type == WType::F32 ? "f32" : "bf16";
      auto probe_peak = [&] {
        if (type == WType::F32) f32_peak = std::max(f32_peak, bench::measure_fp32_peak_gflops(threads));
        else bf16_peak = std::max(bf16_peak, bench::measure_bf16_peak_gflops(threads));
      };
      // GEMM (skip the f32 lm_head in --quick: 0.6 GB of weights, ~0.5 s a call).
      if (!(quick && type == WType::F32 && s.N > 100000)) {
        probe_peak();
        const Timing tm = time_matmul(x.data(), kGemmT, w, y.data(), gemm_reps, threads);
        probe_peak();
        const double flop = 2.0 * double(kGemmT) * double(n);
        rows.push_back({s.name, tname, kernels::matmul_path(type, kGemmT), kGemmT, tm.wall, flop / tm.wall / 1e9,
                        wbytes / tm.wall / 1e9, 0, flop / tm.cpu_wall / 1e9, true});
      }
      const double bw0 = bench::measure_read_bandwidth_gbs(size_t(wbytes), threads);
      const Timing tm = time_matmul(x.data(), 1, w, y.data(), gemv_reps, threads);
      const double bw1 = bench::measure_read_bandwidth_gbs(size_t(wbytes), threads);
      rows.push_back({s.name, tname, kernels::matmul_path(type, 1), 1, tm.wall, 2.0 * double(n) / tm.wall / 1e9,
                      wbytes / tm.wall / 1e9, std::max(bw0, bw1), 2.0 * double(n) / tm.cpu_wall / 1e9, false});
    }
  }

  std::printf("best probes this run: bf16 dot peak %.0f GFLOP/s, fp32 FMA peak %.0f GFLOP/s\n\n", bf16_peak,
              f32_peak);
  std::printf("%-26s %-5s %-17s %5s %9s %9s %9s  %s\n", "shape (NxK)", "wtype", "path", "T", "ms", "GFLOP/s",
              "GB/s(W)", "ratio (wall clock) | from CPU time");
  double gemm_metric = 0, gemv_metric = 0, gemv_bw_metric = 0, gemm_gflops_metric = 0, gemm_cpu_metric = 0;
  for (const Row& r : rows) {
    std::printf("%-26s %-5s %-17s %5lld %9.3f %9.1f %9.1f  ", r.shape.c_str(), r.type.c_str(), r.path.c_str(),
                (long long)r.T, r.sec * 1e3, r.gflops, r.gbs);
    if (r.gemm) {
      const double peak = r.type == "f32" ? f32_peak : bf16_peak;
      std::printf("%5.1f%% of %.0f GFLOP/s peak | %.0f GFLOP/s, %.1f%%\n", 100.0 * r.gflops / peak, peak,
                  r.cpu_gflops, 100.0 * r.cpu_gflops / peak);
      if (r.type == "bf16" && r.shape.find("9728x2560") != std::string::npos) {
        gemm_metric = r.gflops / peak;
        gemm_cpu_metric = r.cpu_gflops / peak;
        gemm_gflops_metric = r.gflops;
      }
    } else {
      std::printf("%5.1f%% of %.1f GB/s read (same-size buffer)\n", 100.0 * r.gbs / r.limit, r.limit);
      if (r.type == "bf16" && r.shape.find("lm_head") != std::string::npos) {
        gemv_metric = r.gbs / r.limit;
        gemv_bw_metric = r.gbs;
      }
    }
  }
  std::printf("load average at end: %s", load_average().c_str());
  std::printf("\n(GEMM ratio: largest 4B shape 9728x2560, T=512, bf16. GEMV ratio: bf16 lm_head 151936x1024, T=1,\n"
              " 311 MB of weights, vs read bandwidth of a 311 MB buffer measured just before and after.\n"
              " 'from CPU time' divides the flops by process CPU seconds / threads: what the kernel does on\n"
              " the cycles it gets when other processes share the cores; the wall-clock ratio is the metric.)\n");
  std::printf("metric: matmul_bf16_gemm_gflops = %.1f\n", gemm_gflops_metric);
  std::printf("metric: matmul_bf16_gemm_flops_ratio = %.3f\n", gemm_metric);
  std::printf("metric: matmul_bf16_gemm_flops_ratio_cputime = %.3f\n", gemm_cpu_metric);
  std::printf("metric: matmul_bf16_gemv_gbs = %.1f\n", gemv_bw_metric);
  std::printf("metric: matmul_bf16_gemv_bw_ratio = %.3f\n", gemv_metric);
  return 0;
}
