#include "common/machine_limits.h"

#include <omp.h>
#include <sys/mman.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
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
float fp32_fma_loop_avx2(int64_t iters);
float int8_dot_loop_avx2(int64_t iters);
float read_sum_avx2(const float* p, size_t n);

#if defined(__x86_64__)
#define MSA_OPAQUE_F "+x"
#else
#define MSA_OPAQUE_F "+w"
#endif

// Scalar tier: what the portable kernels issue (compiled without -mfma: a
// multiply and an add per product). 8 chains cover the latency.
// Not vectorised (one lane per chain, like the scalar kernels; GCC would otherwise
// pack the chains into SSE vectors and spill them every iteration).
__attribute__((optimize("no-tree-vectorize", "no-tree-slp-vectorize"))) float fp32_scalar_loop(int64_t iters) {
  constexpr int C = 8;
  float acc[C];
  for (int i = 0; i < C; ++i) acc[i] = float(i);
  float a = 0.999f, b = 1e-7f;
  for (int64_t it = 0; it < iters; ++it) {
    __asm__ volatile("" : MSA_OPAQUE_F(a), MSA_OPAQUE_F(b));
    for (int i = 0; i < C; ++i) acc[i] = acc[i] * a + b;
  }
  float s = 0;
  for (float x : acc) s += x;
  return s;
}

// Plain C++ read (the compiler vectorises it with the baseline ISA, SSE2).
float read_sum_scalar(const float* p, size_t n) {
  float a[8] = {};
  for (size_t i = 0; i < n; i += 8)
    for (int j = 0; j < 8; ++j) a[j] += p[i + size_t(j)];
  float s = 0;
  for (float x : a) s += x;
  return s;
}
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
  const CpuFeatures& f = cpu_features();
  if (f.avx512_bf16) return peak_rate(threads, 12.0 * 16 * 4, detail::bf16_dot_loop);  // 12 instr × 16 lanes × 2 pairs × 2
  // Without vdpbf16ps the bf16 kernels widen to f32 and use FMA: that is their peak.
  if (f.avx2) return peak_rate(threads, 10.0 * 8 * 2, detail::fp32_fma_loop_avx2);
  return peak_rate(threads, 8.0 * 2, detail::fp32_scalar_loop);
}

double measure_fp32_peak_gflops(int threads) {
  const CpuFeatures& f = cpu_features();
  if (f.avx512) return peak_rate(threads, 12.0 * 16 * 2, detail::fp32_fma_loop);
  if (f.avx2) return peak_rate(threads, 10.0 * 8 * 2, detail::fp32_fma_loop_avx2);
  return peak_rate(threads, 8.0 * 2, detail::fp32_scalar_loop);
}

double measure_int8_peak_gops(int threads) {
  const CpuFeatures& f = cpu_features();
  if (f.avx512_vnni) return peak_rate(threads, 10.0 * 16 * 8, detail::int8_dot_loop);  // 4 products + 4 adds per lane
  if (f.avx2) return peak_rate(threads, 4.0 * 32 * 2, detail::int8_dot_loop_avx2);     // 32 products + adds per step
  return peak_rate(threads, 8.0 * 2, detail::fp32_scalar_loop);  // the scalar scan's integer multiply-adds: ~ f32 rate
}

double measure_read_bandwidth_gbs(size_t bytes, int threads) {
  const CpuFeatures& f = cpu_features();
  float (*read_sum)(const float*, size_t) =
      f.avx512 ? detail::read_sum : f.avx2 ? detail::read_sum_avx2 : detail::read_sum_scalar;
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
    sink += read_sum(buf + size_t(omp_get_thread_num()) * per, per);
    const double s = timer.seconds();
    g_sink = sink;
    if (pass > 0) best = std::max(best, double(n * sizeof(float)) / s / 1e9);
  }
  std::free(buf);
  return best;
}

void print_isa_path() {
  std::printf("# isa_path: %s\n# cpu: %s (%s)\n", isa_path(), cpu_model_name(), cpu_flags_summary());
}

}  // namespace msa::bench
