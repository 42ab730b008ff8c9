// AVX2 + FMA + F16C matmul paths (compiled with -mavx2 -mfma -mf16c; entered
// only after the runtime check in matmul.cc). Same structure as
// matmul_avx512.cc — micro-tiles vectorised over K, cache blocking over K and
// W rows, weight streaming for small T — sized for 16 ymm registers.
//
// x is first copied into a zero-padded buffer (rows of a multiple of 16
// floats), so x loads never need a tail; W (mmap'd, read in place) has its
// K tail copied into a zeroed stack vector.
//
// bf16 weights (no vdpbf16ps here): x is rounded to bf16 exactly as
// msa::f32_to_bf16 does and stored back as f32 with each 16-element block
// split into its 8 even then 8 odd elements. A 16-element bf16 W vector then
// widens to f32 with one AND (odd elements: the high halves of the 32-bit
// lanes) and one shift (even elements), no shuffles. Products of two bf16
// values are exact in f32, so the results match the reference up to
// summation order, like the AVX-512 path.
#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "core/aligned_buffer.h"
#include "core/half.h"
#include "core/threads.h"
#include "kernels/matmul.h"
#include "kernels/reduce_avx2.h"

namespace msa::kernels {
namespace {

using avx2::reduce4;

constexpr int kNR = 4;     // W rows per micro-tile
constexpr int kMR = 2;     // x rows per micro-tile (2×4 accumulators + 4 W + 1 x register)
constexpr int kGemvT = 6;  // T ≤ this: pure weight streaming
constexpr int64_t kXAlign = 16;

// ---- weight traits: K elements per step, f32 vectors per step, loads ----

struct F32W {
  using WT = float;
  static constexpr int kStep = 8, kVecs = 1;
  static void load(const WT* p, __m256 (&w)[kVecs]) { w[0] = _mm256_loadu_ps(p); }
};

struct F16W {
  using WT = uint16_t;
  static constexpr int kStep = 8, kVecs = 1;
  static void load(const WT* p, __m256 (&w)[kVecs]) {
    w[0] = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  }
};

struct Bf16W {
  using WT = uint16_t;
  static constexpr int kStep = 16, kVecs = 2;
  static void load(const WT* p, __m256 (&w)[kVecs]) {
    const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
    w[0] = _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));                           // even elements
    w[1] = _mm256_castsi256_ps(_mm256_and_si256(v, _mm256_set1_epi32(int(0xffff0000u))));  // odd
  }
};

// Loads the last n < kStep elements of a W row (zero beyond).
template <class W>
void load_tail(const typename W::WT* p, int n, __m256 (&w)[W::kVecs]) {
  alignas(32) typename W::WT tmp[W::kStep] = {};
  std::memcpy(tmp, p, size_t(n) * sizeof(typename W::WT));
  W::load(tmp, w);
}

// ---- micro-kernel: MR rows of x × 4 rows of W over kc elements ----
template <class W, int MR>
void micro_tile(const float* x, int64_t ldx, const typename W::WT* const w[kNR], int64_t kc, float* y,
                int64_t ldy, int ncols, bool accumulate) {
  constexpr int S = W::kStep, V = W::kVecs;
  __m256 acc[MR][kNR];
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < kNR; ++j) acc[i][j] = _mm256_setzero_ps();
  auto step = [&](int64_t k, const __m256 (&wv)[kNR][V]) {
    for (int v = 0; v < V; ++v)
      for (int i = 0; i < MR; ++i) {
        const __m256 xv = _mm256_loadu_ps(x + i * ldx + k + 8 * v);
        for (int j = 0; j < kNR; ++j) acc[i][j] = _mm256_fmadd_ps(xv, wv[j][v], acc[i][j]);
      }
  };
  int64_t k = 0;
  for (; k + S <= kc; k += S) {
    __m256 wv[kNR][V];
    for (int j = 0; j < kNR; ++j) W::load(w[j] + k, wv[j]);
    step(k, wv);
  }
  if (k < kc) {
    __m256 wv[kNR][V];
    for (int j = 0; j < kNR; ++j) load_tail<W>(w[j] + k, int(kc - k), wv[j]);
    step(k, wv);
  }
  const __m256i m8 = avx2::tail_mask8(ncols);
  const __m128i m = _mm256_castsi256_si128(m8);
  for (int i = 0; i < MR; ++i) {
    __m128 s = reduce4(acc[i][0], acc[i][1], acc[i][2], acc[i][3]);
    float* yi = y + i * ldy;
    if (accumulate) s = _mm_add_ps(s, _mm_maskload_ps(yi, m));
    _mm_maskstore_ps(yi, m, s);
  }
}

struct Blocking {
  int64_t kc;  // K block (multiple of 16 unless it is all of K)
  int64_t nc;  // W rows per L2 block (multiple of kNR)
};

template <class W>
Blocking choose_blocking(int64_t T, int64_t K) {
  constexpr int64_t kRowBytes = 4096;  // K-block bytes of one W row (L1: x pair + W panel)
  const int64_t max_kc = kRowBytes / int64_t(sizeof(typename W::WT));
  Blocking b;
  if (T <= kGemvT || K <= max_kc + max_kc / 4) {
    b.kc = K;
  } else {
    const int64_t nblocks = (K + max_kc - 1) / max_kc;
    b.kc = ((K + nblocks - 1) / nblocks + kXAlign - 1) / kXAlign * kXAlign;
  }
  const int64_t row_bytes = b.kc * int64_t(sizeof(typename W::WT));
  constexpr int64_t kNcBytes = 256 * 1024;  // W block kept in L2 (512 KiB on Zen 2) while x rows pass
  b.nc = std::max<int64_t>(kNR, (kNcBytes / row_bytes) / kNR * kNR);
  return b;
}

template <class W>
void gemm_rect(const float* x, int64_t ldx, int64_t t0, int64_t t1, const typename W::WT* Wm, int64_t N,
               int64_t K, int64_t n0, int64_t n1, float* y, const Blocking& b) {
  using WT = typename W::WT;
  for (int64_t k0 = 0; k0 < K; k0 += b.kc) {
    const int64_t kc = std::min(b.kc, K - k0);
    const bool accumulate = k0 > 0;
    for (int64_t nb = n0; nb < n1; nb += b.nc) {
      const int64_t nb1 = std::min(n1, nb + b.nc);
      for (int64_t t = t0; t < t1; t += kMR) {
        const bool pair = t + 1 < t1;
        const float* xt = x + t * ldx + k0;
        for (int64_t n = nb; n < nb1; n += kNR) {
          const int ncols = int(std::min<int64_t>(kNR, N - n));
          const WT* w[kNR];
          for (int j = 0; j < kNR; ++j) w[j] = Wm + (n + std::min(j, ncols - 1)) * K + k0;
          if (pair) micro_tile<W, 2>(xt, ldx, w, kc, y + t * N + n, N, ncols, accumulate);
          else micro_tile<W, 1>(xt, ldx, w, kc, y + t * N + n, N, ncols, accumulate);
        }
      }
    }
  }
}

// Small T (decode): each thread streams its W rows in address order with a
// non-temporal prefetch ahead; each W vector is applied to all MR x rows.
template <class W, int MR>
void gemv_rows(const float* x, int64_t ldx, const typename W::WT* Wm, int64_t N, int64_t K, int64_t n0,
               int64_t n1, float* y) {
  using WT = typename W::WT;
  constexpr int S = W::kStep, V = W::kVecs;
  constexpr int U = MR == 1 ? 4 : MR == 2 ? 2 : 1;  // W steps per iteration: ≥ 4 independent chains
  constexpr int kIterBytes = U * S * int(sizeof(WT));
  constexpr int64_t kPrefetchBytes = 4096;
  const int64_t kmain = K / (U * S) * (U * S);
  for (int64_t n = n0; n < n1; ++n) {
    const WT* w = Wm + n * K;
    __m256 acc[MR][U];
    for (int i = 0; i < MR; ++i)
      for (int u = 0; u < U; ++u) acc[i][u] = _mm256_setzero_ps();
    int64_t k = 0;
    for (; k < kmain; k += U * S) {
      const char* pf = reinterpret_cast<const char*>(w + k) + kPrefetchBytes;
      for (int l = 0; l < kIterBytes; l += 64) _mm_prefetch(pf + l, _MM_HINT_NTA);
      for (int u = 0; u < U; ++u) {
        __m256 wv[V];
        W::load(w + k + u * S, wv);
        for (int v = 0; v < V; ++v)
          for (int i = 0; i < MR; ++i)
            acc[i][u] = _mm256_fmadd_ps(_mm256_loadu_ps(x + i * ldx + k + u * S + 8 * v), wv[v], acc[i][u]);
      }
    }
    for (; k < K; k += S) {
      __m256 wv[V];
      if (k + S <= K) W::load(w + k, wv);
      else load_tail<W>(w + k, int(K - k), wv);
      for (int v = 0; v < V; ++v)
        for (int i = 0; i < MR; ++i)
          acc[i][0] = _mm256_fmadd_ps(_mm256_loadu_ps(x + i * ldx + k + 8 * v), wv[v], acc[i][0]);
    }
    for (int i = 0; i < MR; ++i) {
      __m256 sum = acc[i][0];
      for (int u = 1; u < U; ++u) sum = _mm256_add_ps(sum, acc[i][u]);
      y[i * N + n] = avx2::reduce_add(sum);
    }
  }
}

template <class W>
void gemv_dispatch(const float* x, int64_t ldx, int64_t T, const typename W::WT* Wm, int64_t N, int64_t K,
                   int64_t n0, int64_t n1, float* y) {
  switch (T) {
    case 1: return gemv_rows<W, 1>(x, ldx, Wm, N, K, n0, n1, y);
    case 2: return gemv_rows<W, 2>(x, ldx, Wm, N, K, n0, n1, y);
    case 3: return gemv_rows<W, 3>(x, ldx, Wm, N, K, n0, n1, y);
    case 4: return gemv_rows<W, 4>(x, ldx, Wm, N, K, n0, n1, y);
    case 5: return gemv_rows<W, 5>(x, ldx, Wm, N, K, n0, n1, y);
    default: return gemv_rows<W, 6>(x, ldx, Wm, N, K, n0, n1, y);
  }
}

template <class W>
void gemm_parallel(const float* x, int64_t ldx, int64_t T, const typename W::WT* Wm, int64_t N, int64_t K,
                   float* y, int nthreads) {
  const Blocking b = choose_blocking<W>(T, K);
  const int64_t panels = (N + kNR - 1) / kNR;
  const bool split_t = panels < 8 * nthreads && T >= 2 * kMR * nthreads;
#pragma omp parallel num_threads(nthreads)
  {
    const int nt = omp_get_num_threads(), tid = omp_get_thread_num();
    if (T <= kGemvT) {
      const int64_t n0 = N * tid / nt, n1 = N * (tid + 1) / nt;
      if (n1 > n0) gemv_dispatch<W>(x, ldx, T, Wm, N, K, n0, n1, y);
    } else if (split_t) {
      const int64_t groups = (T + kMR - 1) / kMR;
      const int64_t g0 = groups * tid / nt, g1 = groups * (tid + 1) / nt;
      if (g1 > g0) gemm_rect<W>(x, ldx, g0 * kMR, std::min(T, g1 * kMR), Wm, N, K, 0, N, y, b);
    } else {
      const int64_t p0 = panels * tid / nt, p1 = panels * (tid + 1) / nt;
      if (p1 > p0) gemm_rect<W>(x, ldx, 0, T, Wm, N, K, p0 * kNR, std::min(N, p1 * kNR), y, b);
    }
  }
}

int threads_for(int64_t T, int64_t N, int64_t K) {
  const double work = double(T) * double(N) * double(K);
  return work < 256.0 * 1024.0 ? 1 : msa::num_threads();
}

// Copies rows [r0, r1) of x into the padded buffer. bf16: each value rounded
// (RNE, bit-identical to msa::f32_to_bf16) and every 16-block split even|odd.
void pack_rows(const float* x, int64_t r0, int64_t r1, int64_t K, bool bf16, float* out, int64_t ldo) {
  for (int64_t r = r0; r < r1; ++r) {
    const float* xr = x + r * K;
    float* o = out + r * ldo;
    if (!bf16) {
      std::memcpy(o, xr, size_t(K) * sizeof(float));
      std::fill(o + K, o + ldo, 0.f);
      continue;
    }
    for (int64_t b = 0; b < ldo; b += 16)
      for (int64_t e = 0; e < 16; ++e) {
        const int64_t src = b + e;
        const float v = src < K ? bf16_to_f32(f32_to_bf16(xr[src])) : 0.f;
        o[b + (e & 1 ? 8 + e / 2 : e / 2)] = v;
      }
  }
}

template <class W>
void run(const float* x, int64_t T, const WeightView& w, float* y) {
  const int64_t N = w.rows, K = w.cols;
  const int64_t ldx = (K + kXAlign - 1) / kXAlign * kXAlign;
  thread_local AlignedBuffer<float> xb;
  xb.resize(size_t(T * ldx));
  float* const xp = xb.data();  // not xb inside the parallel region: thread_local
  const bool bf16 = w.type == WType::BF16;
  const int nthreads = threads_for(T, N, K);
  if (nthreads > 1 && T * K >= 65536) {
#pragma omp parallel num_threads(nthreads)
    {
      const int nt = omp_get_num_threads(), tid = omp_get_thread_num();
      pack_rows(x, T * tid / nt, T * (tid + 1) / nt, K, bf16, xp, ldx);
    }
  } else {
    pack_rows(x, 0, T, K, bf16, xp, ldx);
  }
  gemm_parallel<W>(xp, ldx, T, static_cast<const typename W::WT*>(w.data), N, K, y, nthreads);
}

}  // namespace

const char* matmul_avx2_name(WType type, int64_t T) {
  const bool gemv = T <= kGemvT;
  switch (type) {
    case WType::BF16: return gemv ? "avx2-bf16-gemv" : "avx2-bf16-gemm";
    case WType::F32: return gemv ? "avx2-f32-gemv" : "avx2-f32-gemm";
    case WType::F16: return gemv ? "avx2-f16-gemv" : "avx2-f16-gemm";
  }
  return "portable";
}

void matmul_avx2(const float* x, int64_t T, const WeightView& w, float* y) {
  const int64_t N = w.rows, K = w.cols;
  if (T <= 0 || N <= 0) return;
  if (K <= 0) {
    std::fill(y, y + T * N, 0.f);
    return;
  }
  switch (w.type) {
    case WType::BF16: return run<Bf16W>(x, T, w, y);
    case WType::F32: return run<F32W>(x, T, w, y);
    case WType::F16: return run<F16W>(x, T, w, y);
  }
}

}  // namespace msa::kernels
