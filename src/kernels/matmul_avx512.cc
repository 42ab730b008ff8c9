// AVX-512 matmul paths (compiled with -mavx512*; entered only after the runtime check).
//
// y[T,N] = x[T,K] · Wᵀ with W row-major [N,K] read in place (mmap'd, never
// repacked). Both operands are contiguous along K, so the micro-kernel
// vectorises over K: an MR×NR tile (MR rows of x, NR = 4 rows of W) keeps
// MR·NR 16-lane f32 accumulators in registers, streams K, and reduces each
// accumulator horizontally once per K block (a shuffle tree that turns the
// four accumulators of one x row into four contiguous outputs).
//
// Cache blocking (per thread, over its own range of W rows):
//   for each K block (KC elements, ≤ 4 KiB of a W row)
//     for each block of NC W rows (NC×KC of W, ~384 KiB, stays in L2)
//       for each group of MR x rows (MR×KC of x, stays in L1)
//         for each panel of NR W rows in the block: micro-kernel
// so W is streamed from memory exactly once and every W byte that reaches L2
// is reused by all T rows.
//
// Small T (≤ 6, decode) is weight streaming instead: gemv_rows reads each
// thread's W rows in address order with a non-temporal prefetch ahead and
// applies every W vector to all T rows of x.
//
// Paths: bf16 weights round x to bf16 once (RNE, bit-identical to
// msa::f32_to_bf16) and use vdpbf16ps; f32 weights use exact f32 FMA; f16
// weights are widened with vcvtph2ps and use f32 FMA.
// GCC 12 warns about _mm512_undefined_ps() inside its own cvtph intrinsics.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <cstdint>

#include "core/aligned_buffer.h"
#include "core/cpu_features.h"
#include "core/threads.h"
#include "kernels/matmul.h"
#include "kernels/reduce_avx512.h"

namespace msa::kernels {
namespace {

constexpr int kNR = 4;     // W rows per micro-tile
constexpr int kMR = 6;     // x rows per micro-tile (6×4 = 24 accumulators)
constexpr int kGemvT = 6;  // T ≤ this: one MR group, pure weight streaming

// ---- operand traits: element types, vector step along K, loads, multiply-add ----

struct Bf16Ops {
  using XT = uint16_t;
  using WT = uint16_t;
  using V = __m512i;
  static constexpr int kStep = 32;
  static V load_x(const XT* p) { return _mm512_loadu_si512(p); }
  static V load_w(const WT* p) { return _mm512_loadu_si512(p); }
  static V load_x_tail(const XT* p, int n) {
    return _mm512_maskz_loadu_epi16(_cvtu32_mask32((1u << n) - 1u), p);
  }
  static V load_w_tail(const WT* p, int n) { return load_x_tail(p, n); }
  static __m512 madd(__m512 acc, V x, V w) {
    return _mm512_dpbf16_ps(acc, (__m512bh)x, (__m512bh)w);
  }
};

struct F32Ops {
  using XT = float;
  using WT = float;
  using V = __m512;
  static constexpr int kStep = 16;
  static V load_x(const XT* p) { return _mm512_loadu_ps(p); }
  static V load_w(const WT* p) { return _mm512_loadu_ps(p); }
  static V load_x_tail(const XT* p, int n) {
    return _mm512_maskz_loadu_ps(_cvtu32_mask16((1u << n) - 1u), p);
  }
  static V load_w_tail(const WT* p, int n) { return load_x_tail(p, n); }
  static __m512 madd(__m512 acc, V x, V w) { return _mm512_fmadd_ps(x, w, acc); }
};

struct F16Ops {
  using XT = float;
  using WT = uint16_t;
  using V = __m512;
  static constexpr int kStep = 16;
  static V load_x(const XT* p) { return _mm512_loadu_ps(p); }
  static V load_w(const WT* p) {
    return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
  }
  static V load_x_tail(const XT* p, int n) {
    return _mm512_maskz_loadu_ps(_cvtu32_mask16((1u << n) - 1u), p);
  }
  static V load_w_tail(const WT* p, int n) {
    return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(_cvtu32_mask16((1u << n) - 1u), p));
  }
  static __m512 madd(__m512 acc, V x, V w) { return _mm512_fmadd_ps(x, w, acc); }
};


// ---- micro-kernel: MR rows of x × 4 rows of W over kc elements ----
//
// w[j] point at the four W rows (a tail panel repeats its last valid row; only
// `ncols` outputs are stored). accumulate: y += result (later K blocks).
template <class Ops, int MR>
void micro_tile(const typename Ops::XT* x, int64_t ldx, const typename Ops::WT* const w[kNR],
                int64_t kc, float* y, int64_t ldy, int ncols, bool accumulate) {
  constexpr int S = Ops::kStep;
  __m512 acc[MR][kNR];
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < kNR; ++j) acc[i][j] = _mm512_setzero_ps();
  const typename Ops::WT *w0 = w[0], *w1 = w[1], *w2 = w[2], *w3 = w[3];
  int64_t k = 0;
  for (; k + S <= kc; k += S) {
    const auto v0 = Ops::load_w(w0 + k), v1 = Ops::load_w(w1 + k);
    const auto v2 = Ops::load_w(w2 + k), v3 = Ops::load_w(w3 + k);
    for (int i = 0; i < MR; ++i) {
      const auto xv = Ops::load_x(x + i * ldx + k);
      acc[i][0] = Ops::madd(acc[i][0], xv, v0);
      acc[i][1] = Ops::madd(acc[i][1], xv, v1);
      acc[i][2] = Ops::madd(acc[i][2], xv, v2);
      acc[i][3] = Ops::madd(acc[i][3], xv, v3);
    }
  }
  if (k < kc) {  // K tail: masked loads never touch memory past the row
    const int n = int(kc - k);
    const auto v0 = Ops::load_w_tail(w0 + k, n), v1 = Ops::load_w_tail(w1 + k, n);
    const auto v2 = Ops::load_w_tail(w2 + k, n), v3 = Ops::load_w_tail(w3 + k, n);
    for (int i = 0; i < MR; ++i) {
      const auto xv = Ops::load_x_tail(x + i * ldx + k, n);
      acc[i][0] = Ops::madd(acc[i][0], xv, v0);
      acc[i][1] = Ops::madd(acc[i][1], xv, v1);
      acc[i][2] = Ops::madd(acc[i][2], xv, v2);
      acc[i][3] = Ops::madd(acc[i][3], xv, v3);
    }
  }
  const __mmask8 m = __mmask8((1u << ncols) - 1u);
#pragma GCC unroll 6
  for (int i = 0; i < MR; ++i) {
    __m128 s = reduce4(acc[i][0], acc[i][1], acc[i][2], acc[i][3]);
    float* yi = y + i * ldy;
    if (accumulate) s = _mm_add_ps(s, _mm_maskz_loadu_ps(m, yi));
    _mm_mask_storeu_ps(yi, m, s);
  }
}

template <class Ops>
using TileFn = void (*)(const typename Ops::XT*, int64_t, const typename Ops::WT* const*, int64_t,
                        float*, int64_t, int, bool);

template <class Ops>
TileFn<Ops> tile_for(int mr) {
  switch (mr) {
    case 1: return micro_tile<Ops, 1>;
    case 2: return micro_tile<Ops, 2>;
    case 3: return micro_tile<Ops, 3>;
    case 4: return micro_tile<Ops, 4>;
    case 5: return micro_tile<Ops, 5>;
    default: return micro_tile<Ops, 6>;
  }
}

// ---- blocked driver for one thread's rectangle: x rows [t0,t1), W rows [n0,n1) ----

struct Blocking {
  int64_t kc;  // K block (elements, multiple of the vector step unless it is all of K)
  int64_t nc;  // W rows per L2 block (multiple of kNR)
};

template <class Ops>
Blocking choose_blocking(int64_t T, int64_t K) {
  // K-block bytes of one W row: x group (6 rows) + W panel (4 rows) = 40 KiB in L1.
  // Measured 1 thread, T=512: 2 KiB blocks 70%, 4 KiB 76% of peak (fewer y += passes).
  constexpr int64_t kRowBytes = 4096;
  const int64_t max_kc = kRowBytes / int64_t(sizeof(typename Ops::WT));
  Blocking b;
  if (T <= kGemvT || K <= max_kc + max_kc / 4) {
    b.kc = K;
  } else {  // even split into blocks ≤ max_kc, rounded up to the vector step
    const int64_t nblocks = (K + max_kc - 1) / max_kc;
    const int64_t S = Ops::kStep;
    b.kc = ((K + nblocks - 1) / nblocks + S - 1) / S * S;
  }
  const int64_t row_bytes = b.kc * int64_t(sizeof(typename Ops::WT));
  constexpr int64_t kNcBytes = 384 * 1024;  // W block kept in L2 (1 MiB) while all x rows pass
  b.nc = std::max<int64_t>(kNR, (kNcBytes / row_bytes) / kNR * kNR);
  return b;
}

template <class Ops>
void gemm_rect(const typename Ops::XT* x, int64_t ldx, int64_t t0, int64_t t1,
               const typename Ops::WT* W, int64_t N, int64_t K, int64_t n0, int64_t n1, float* y,
               const Blocking& b) {
  using WT = typename Ops::WT;
  for (int64_t k0 = 0; k0 < K; k0 += b.kc) {
    const int64_t kc = std::min(b.kc, K - k0);
    const bool accumulate = k0 > 0;
    for (int64_t nb = n0; nb < n1; nb += b.nc) {
      const int64_t nb1 = std::min(n1, nb + b.nc);
      for (int64_t t = t0; t < t1; t += kMR) {
        const int mr = int(std::min<int64_t>(kMR, t1 - t));
        const TileFn<Ops> tile = tile_for<Ops>(mr);
        const typename Ops::XT* xt = x + t * ldx + k0;
        for (int64_t n = nb; n < nb1; n += kNR) {
          const int ncols = int(std::min<int64_t>(kNR, N - n));
          const WT* w[kNR];
          for (int j = 0; j < kNR; ++j) w[j] = W + (n + std::min(j, ncols - 1)) * K + k0;
          tile(xt, ldx, w, kc, y + t * N + n, N, ncols, accumulate);
        }
      }
    }
  }
}

// Small T (decode, T ≤ kGemvT): this thread's W rows are read strictly in
// address order — one linear stream that the hardware prefetcher follows,
// plus a non-temporal software prefetch a fixed distance ahead — and each W
// vector is used by all MR x rows (in L1). U independent accumulators per x row
// cover the dot-product latency when MR is small.
template <class Ops, int MR>
void gemv_rows(const typename Ops::XT* x, int64_t ldx, const typename Ops::WT* W, int64_t N, int64_t K,
               int64_t n0, int64_t n1, float* y) {
  using WT = typename Ops::WT;
  constexpr int S = Ops::kStep;
  constexpr int U = MR <= 3 ? 4 : 2;  // ≥ 8 independent chains
  constexpr int kIterBytes = U * S * int(sizeof(WT));
  constexpr int64_t kPrefetchBytes = 4096;  // ahead of the read position (measured: 2–8 KiB equal)
  const int64_t kmain = K / (U * S) * (U * S);
  for (int64_t n = n0; n < n1; ++n) {
    const WT* w = W + n * K;
    __m512 acc[MR][U];
    for (int i = 0; i < MR; ++i)
      for (int u = 0; u < U; ++u) acc[i][u] = _mm512_setzero_ps();
    int64_t k = 0;
    for (; k < kmain; k += U * S) {
      const char* pf = reinterpret_cast<const char*>(w + k) + kPrefetchBytes;
      for (int l = 0; l < kIterBytes; l += 64) _mm_prefetch(pf + l, _MM_HINT_NTA);
      for (int u = 0; u < U; ++u) {
        const auto wv = Ops::load_w(w + k + u * S);
        for (int i = 0; i < MR; ++i) acc[i][u] = Ops::madd(acc[i][u], Ops::load_x(x + i * ldx + k + u * S), wv);
      }
    }
    for (; k + S <= K; k += S) {
      const auto wv = Ops::load_w(w + k);
      for (int i = 0; i < MR; ++i) acc[i][0] = Ops::madd(acc[i][0], Ops::load_x(x + i * ldx + k), wv);
    }
    if (k < K) {
      const int r = int(K - k);
      const auto wv = Ops::load_w_tail(w + k, r);
      for (int i = 0; i < MR; ++i) acc[i][0] = Ops::madd(acc[i][0], Ops::load_x_tail(x + i * ldx + k, r), wv);
    }
    for (int i = 0; i < MR; ++i) {
      __m512 sum = acc[i][0];
      for (int u = 1; u < U; ++u) sum = _mm512_add_ps(sum, acc[i][u]);
      y[i * N + n] = _mm512_reduce_add_ps(sum);
    }
  }
}

template <class Ops>
void gemv_dispatch(const typename Ops::XT* x, int64_t ldx, int64_t T, const typename Ops::WT* W, int64_t N,
                   int64_t K, int64_t n0, int64_t n1, float* y) {
  switch (T) {
    case 1: return gemv_rows<Ops, 1>(x, ldx, W, N, K, n0, n1, y);
    case 2: return gemv_rows<Ops, 2>(x, ldx, W, N, K, n0, n1, y);
    case 3: return gemv_rows<Ops, 3>(x, ldx, W, N, K, n0, n1, y);
    case 4: return gemv_rows<Ops, 4>(x, ldx, W, N, K, n0, n1, y);
    case 5: return gemv_rows<Ops, 5>(x, ldx, W, N, K, n0, n1, y);
    default: return gemv_rows<Ops, 6>(x, ldx, W, N, K, n0, n1, y);
  }
}

// Splits the output among threads (over W rows when there are enough, else
// over x rows) and runs the blocked driver.
template <class Ops>
void gemm_parallel(const typename Ops::XT* x, int64_t ldx, int64_t T, const typename Ops::WT* W,
                   int64_t N, int64_t K, float* y, int nthreads) {
  const Blocking b = choose_blocking<Ops>(T, K);
  const int64_t panels = (N + kNR - 1) / kNR;
  const bool split_t = panels < 8 * nthreads && T >= 2 * kMR * nthreads;
#pragma omp parallel num_threads(nthreads)
  {
    const int nt = omp_get_num_threads(), tid = omp_get_thread_num();
    if (T <= kGemvT) {
      const int64_t n0 = N * tid / nt, n1 = N * (tid + 1) / nt;
      if (n1 > n0) gemv_dispatch<Ops>(x, ldx, T, W, N, K, n0, n1, y);
    } else if (split_t) {
      const int64_t groups = (T + kMR - 1) / kMR;
      const int64_t g0 = groups * tid / nt, g1 = groups * (tid + 1) / nt;
      if (g1 > g0) gemm_rect<Ops>(x, ldx, g0 * kMR, std::min(T, g1 * kMR), W, N, K, 0, N, y, b);
    } else {
      const int64_t p0 = panels * tid / nt, p1 = panels * (tid + 1) / nt;
      if (p1 > p0) gemm_rect<Ops>(x, ldx, 0, T, W, N, K, p0 * kNR, std::min(N, p1 * kNR), y, b);
    }
  }
}

int threads_for(int64_t T, int64_t N, int64_t K) {
  const double work = double(T) * double(N) * double(K);
  return work < 256.0 * 1024.0 ? 1 : msa::num_threads();
}

// Round-to-nearest-even f32 → bf16, bit-identical to msa::f32_to_bf16 (NaN → quiet NaN).
void round_rows_bf16(const float* x, int64_t r0, int64_t r1, int64_t K, uint16_t* out, int64_t ldo) {
  const __m512i lsb1 = _mm512_set1_epi32(1), bias = _mm512_set1_epi32(0x7fff);
  const __m512i absmask = _mm512_set1_epi32(0x7fffffff), inf = _mm512_set1_epi32(0x7f800000);
  const __m512i quiet = _mm512_set1_epi32(0x40);
  for (int64_t r = r0; r < r1; ++r) {
    const float* xr = x + r * K;
    uint16_t* o = out + r * ldo;
    for (int64_t k = 0; k < ldo; k += 16) {
      const int n = int(std::clamp<int64_t>(K - k, 0, 16));
      const __m512i u = _mm512_castps_si512(_mm512_maskz_loadu_ps(_cvtu32_mask16((1u << n) - 1u), xr + k));
      const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(u, 16), lsb1);
      __m512i h = _mm512_srli_epi32(_mm512_add_epi32(u, _mm512_add_epi32(bias, lsb)), 16);
      const __mmask16 nan = _mm512_cmpgt_epu32_mask(_mm512_and_si512(u, absmask), inf);
      h = _mm512_mask_mov_epi32(h, nan, _mm512_or_si512(_mm512_srli_epi32(u, 16), quiet));
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(o + k), _mm512_cvtepi32_epi16(h));
    }
  }
}

void matmul_bf16(const float* x, int64_t T, const WeightView& w, float* y) {
  const int64_t N = w.rows, K = w.cols;
  const int64_t ldx = (K + 31) / 32 * 32;  // 64-byte rows, zero padded
  thread_local AlignedBuffer<uint16_t> xb;
  xb.resize(size_t(T * ldx));
  uint16_t* const xr = xb.data();  // not xb inside the parallel region: thread_local
  const int nthreads = threads_for(T, N, K);
  if (nthreads > 1 && T * K >= 65536) {
#pragma omp parallel num_threads(nthreads)
    {
      const int nt = omp_get_num_threads(), tid = omp_get_thread_num();
      round_rows_bf16(x, T * tid / nt, T * (tid + 1) / nt, K, xr, ldx);
    }
  } else {
    round_rows_bf16(x, 0, T, K, xr, ldx);
  }
  gemm_parallel<Bf16Ops>(xr, ldx, T, static_cast<const uint16_t*>(w.data), N, K, y, nthreads);
}

}  // namespace

bool matmul_avx512_handles(WType type, int64_t T) {
  if (!cpu_features().avx512) return false;
  return type != WType::BF16 || cpu_features().avx512_bf16;
}

const char* matmul_avx512_name(WType type, int64_t T) {
  const bool gemv = T <= kGemvT;
  switch (type) {
    case WType::BF16: return gemv ? "avx512-bf16-gemv" : "avx512-bf16-gemm";
    case WType::F32: return gemv ? "avx512-f32-gemv" : "avx512-f32-gemm";
    case WType::F16: return gemv ? "avx512-f16-gemv" : "avx512-f16-gemm";
  }
  return "portable";
}

bool matmul_avx512(const float* x, int64_t T, const WeightView& w, float* y) {
  if (!matmul_avx512_handles(w.type, T)) return false;
  const int64_t N = w.rows, K = w.cols;
  if (T <= 0 || N <= 0) return true;
  if (K <= 0) {
    std::fill(y, y + T * N, 0.f);
    return true;
  }
  switch (w.type) {
    case WType::BF16: matmul_bf16(x, T, w, y); break;
    case WType::F32:
      gemm_parallel<F32Ops>(x, K, T, static_cast<const float*>(w.data), N, K, y, threads_for(T, N, K));
      break;
    case WType::F16:
      gemm_parallel<F16Ops>(x, K, T, static_cast<const uint16_t*>(w.data), N, K, y, threads_for(T, N, K));
      break;
  }
  return true;
}

}  // namespace msa::kernels
