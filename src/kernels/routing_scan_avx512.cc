// AVX-512 register tiles of the routing scan (compiled with -mavx512*; entered
// only after the runtime check in routing_scan.cc).
//
// A tile keeps NB×MT accumulators (NB key vectors of 16 chunks × MT query
// columns) in zmm registers: per 4-byte step it loads NB key vectors (one
// 64-byte line each) and broadcasts MT query words, issuing NB·MT
// vdpbf16ps / vpdpbusd / vfmadd. NB=2, MT≤12 (24 accumulators) for
// compute-bound many-token scans; NB=4, MT≤6 when few columns (bandwidth-bound).
// GCC 12 warns about the intrinsics headers own _mm512_undefined_* temporaries.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <utility>

#include "kernels/routing_scan.h"

namespace msa::kernels {
namespace {

template <ScanType T>
struct Acc {
  using V = __m512;
  static V zero() { return _mm512_setzero_ps(); }
};
template <>
struct Acc<ScanType::Int8> {
  using V = __m512i;
  static V zero() { return _mm512_setzero_si512(); }
};

template <ScanType T, int NB, int MT>
__attribute__((always_inline)) inline void tile(const ScanTileArgs& a, int blk) {
  using V = typename Acc<T>::V;
  V acc[NB][MT];
#pragma GCC unroll 64
  for (int i = 0; i < NB; ++i)
#pragma GCC unroll 64
    for (int j = 0; j < MT; ++j) {
      float* out = a.out + j * a.out_stride + (blk + i) * kScanLanes;
      if constexpr (T == ScanType::Int8)
        acc[i][j] = a.accumulate ? _mm512_loadu_si512(out) : Acc<T>::zero();
      else
        acc[i][j] = a.accumulate ? _mm512_loadu_ps(out) : Acc<T>::zero();
    }

  const uint8_t* kp = a.keys + blk * a.block_stride;
  const int64_t bs = a.block_stride;
  const uint32_t* q = a.q;
  const int64_t pf = a.prefetch;
  for (int64_t s = 0; s < a.nsteps; ++s, kp += 64, q += MT) {
    if (pf) {
#pragma GCC unroll 64
      for (int i = 0; i < NB; ++i) _mm_prefetch(reinterpret_cast<const char*>(kp + i * bs + pf), _MM_HINT_T1);
    }
    __m512i k[NB];
#pragma GCC unroll 64
    for (int i = 0; i < NB; ++i) k[i] = _mm512_loadu_si512(kp + i * bs);
#pragma GCC unroll 64
    for (int j = 0; j < MT; ++j) {
      const __m512i qb = _mm512_set1_epi32(int(q[j]));
#pragma GCC unroll 64
      for (int i = 0; i < NB; ++i) {
        if constexpr (T == ScanType::BF16)
          acc[i][j] = _mm512_dpbf16_ps(acc[i][j], (__m512bh)k[i], (__m512bh)qb);
        else if constexpr (T == ScanType::Int8)
          acc[i][j] = _mm512_dpbusd_epi32(acc[i][j], k[i], qb);
        else
          acc[i][j] = _mm512_fmadd_ps(_mm512_castsi512_ps(k[i]), _mm512_castsi512_ps(qb), acc[i][j]);
      }
    }
  }

#pragma GCC unroll 64
  for (int j = 0; j < MT; ++j)
#pragma GCC unroll 64
    for (int i = 0; i < NB; ++i) {
      float* out = a.out + j * a.out_stride + (blk + i) * kScanLanes;
      if constexpr (T == ScanType::Int8) {
        if (!a.finish) {
          _mm512_storeu_si512(out, acc[i][j]);
          continue;
        }
        const __m512 ks = _mm512_loadu_ps(a.kscale + (blk + i) * kScanLanes);
        const __m512 m = _mm512_mul_ps(ks, _mm512_set1_ps(a.qscale[j]));
        const __m512i v = _mm512_sub_epi32(acc[i][j], _mm512_set1_epi32(a.qcorr[j]));
        _mm512_storeu_ps(out, _mm512_mul_ps(_mm512_cvtepi32_ps(v), m));
      } else {
        _mm512_storeu_ps(out, acc[i][j]);
      }
    }
}

template <ScanType T, int NB, int... MT>
bool run_mt(const ScanTileArgs& a, int blk, std::integer_sequence<int, MT...>) {
  return ((a.ncols == MT + 1 ? (tile<T, NB, MT + 1>(a, blk), true) : false) || ...);
}

template <ScanType T>
void run(const ScanTileArgs& a) {
  int blk = 0;
  if (a.nb == 4 && a.ncols <= (T == ScanType::Int8 ? 4 : 6)) {
    run_mt<T, 4>(a, 0, std::make_integer_sequence<int, 6>{});
    return;
  }
  for (; blk + 2 <= a.nb; blk += 2) run_mt<T, 2>(a, blk, std::make_integer_sequence<int, 12>{});
  for (; blk < a.nb; ++blk) run_mt<T, 1>(a, blk, std::make_integer_sequence<int, 12>{});
}

}  // namespace

bool scan_tile_avx512(ScanType t, const ScanTileArgs& a) {
  if (a.ncols < 1 || a.ncols > ScanQueries::kMaxTile) return false;
  switch (t) {
    case ScanType::F32: run<ScanType::F32>(a); return true;
    case ScanType::BF16: run<ScanType::BF16>(a); return true;
    case ScanType::Int8: run<ScanType::Int8>(a); return true;
  }
  return false;
}

}  // namespace msa::kernels
