#include "common/machine_limits.h"

#include <omp.h>
#include <sys/mman.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "core/cpu_features.h"
#include "core/timer.h"

namespace msa::bench {
namespace detail {
float bf16_dot_loop(int64_t iters);
float fp32_fma_loop(int64_t iters);
float int8_dot_loop(int64_t iters);
float read_sum(const float* p, size_t n);
}  // namespace detail

namespace {

volatile float g_sink;  // keeps results alive

// Best-of-`reps` rate of `ops_per_iter`·iters operations per thread, with the
// loop run concurrently on `threads` threads (total rate).
template <class Loop>
double peak_rate(int threads, double ops_per_iter, Loop loop) {
  const int64_t iters = 1 << 20;  // ~20 ms per rep at 3.4 GHz
  double best = 0;
  for (int rep = 0; rep < 5; ++rep) {
    Timer t;
    float sink = 0;
#pragma omp parallel num_threads(threads) reduction(+ : sink)
    sink += loop(iters);
    const double s = t.seconds();
    g_sink = sink;
    best = std::max(best, ops_per_iter * double(iters) * threads / s);
  }
  return best / 1e9;
}

}  // namespace

double measure_bf16_peak_gflops(int threads) {
  if (!cpu_features().avx512_bf16) return 0;
  return peak_rate(threads, 12.0 * 16 * 4, detail::bf16_dot_loop);  // 12 instr × 16 lanes × 2 pairs × 2
}

double measure_fp32_peak_gflops(int threads) {
  if (!cpu_features().avx512) return 0;
  return peak_rate(threads, 12.0 * 16 * 2, detail::fp32_fma_loop);
}

double measure_int8_peak_gops(int threads) {
  if (!cpu_features().avx512_vnni) return 0;
  return peak_rate(threads, 10.0 * 16 * 8, detail::int8_dot_loop);  // 4 products + 4 adds per lane
}

double measure_read_bandwidth_gbs(size_t bytes, int threads) {
  if (!cpu_features().avx512) return 0;
  const size_t chunk = 128 * sizeof(float) * size_t(threads);
  const size_t n = std::max(bytes / chunk, size_t(1)) * chunk / sizeof(float);
  // 2 MiB-aligned with transparent huge pages: pre-touching 1 GiB in 4 KiB
  // pages costs seconds of page faults (and more TLB misses while reading).
  constexpr size_t kHuge = size_t(2) << 20;
  const size_t alloc = (n * sizeof(float) + kHuge - 1) / kHuge * kHuge;
  float* buf = static_cast<float*>(std::aligned_alloc(kHuge, alloc));
  if (!buf) return 0;
  madvise(buf, alloc, MADV_HUGEPAGE);
  const size_t per = n / size_t(threads);  // multiple of 128
  // First touch by the reading thread (and a warm pass through the TLB).
#pragma omp parallel num_threads(threads)
  {
    const size_t t = size_t(omp_get_thread_num());
    std::memset(buf + t * per, 0, per * sizeof(float));
  }
  double best = 0;
  for (int pass = 0; pass < 6; ++pass) {
    Timer timer;
    float sink = 0;
#pragma omp parallel num_threads(threads) reduction(+ : sink)
    sink += detail::read_sum(buf + size_t(omp_get_thread_num()) * per, per);
    const double s = timer.seconds();
    g_sink = sink;
    if (pass > 0) best = std::max(best, double(n * sizeof(float)) / s / 1e9);
  }
  std::free(buf);
  return best;
}

}  // namespace msa::bench
