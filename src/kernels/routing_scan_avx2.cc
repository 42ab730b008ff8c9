// AVX2 register tiles of the routing scan (compiled with -mavx2 -mfma -mf16c;
// entered only after the runtime check in routing_scan.cc).
//
// One 64-byte step of a 16-chunk block is two ymm vectors (lanes 0–7, 8–15).
// A tile keeps 2×MT accumulators (MT query columns) and walks the steps:
//   f32:  acc += k · q                          (one FMA per half)
//   bf16: the two bf16 dims of a 32-bit lane widen with one shift (even dim)
//         and one AND (odd dim), as do the broadcast query's two values:
//         acc += k_even·q0 + k_odd·q1           (products exact in f32)
//   int8: no vpdpbusd here. Keys are stored u8 = s + 128; s = u8 ^ 0x80 is the
//         signed key, and Σ s·q comes from vpmaddubsw(|q|, sign(s, q)) —
//         pairs of products ≤ 2·127·127, so the i16 sums never saturate
//         (u8·s8 pairs could) — then vpmaddwd with ones to i32.
//         The partial sums are therefore Σ s·q, not Σ u8·q: the finish step
//         does not subtract qcorr. One scan uses one path for every tile, so
//         the partials of consecutive D slices always agree.
// Columns are processed MT ≤ 4 (bf16, int8) or 6 (f32) at a time; the keys of
// a slice stay in L1 while the column groups pass over them.
#include <immintrin.h>

#include <algorithm>

#include "kernels/routing_scan.h"

namespace msa::kernels {
namespace {

template <ScanType T>
constexpr int kMaxCols = T == ScanType::F32 ? 6 : 4;

template <ScanType T, int MT>
void tile(const ScanTileArgs& a, int blk, int col0) {
  constexpr bool kInt = T == ScanType::Int8;
  __m256 facc[2][MT];
  __m256i iacc[2][MT];
  for (int h = 0; h < 2; ++h)
    for (int j = 0; j < MT; ++j) {
      float* out = a.out + (col0 + j) * a.out_stride + blk * kScanLanes + 8 * h;
      if constexpr (kInt)
        iacc[h][j] = a.accumulate ? _mm256_loadu_si256(reinterpret_cast<const __m256i*>(out)) : _mm256_setzero_si256();
      else
        facc[h][j] = a.accumulate ? _mm256_loadu_ps(out) : _mm256_setzero_ps();
    }
  const uint8_t* kp = a.keys + blk * a.block_stride;
  const uint32_t* q = a.q + col0;
  const __m256i hi16 = _mm256_set1_epi32(int(0xffff0000u));
  const __m256i sign_bit = _mm256_set1_epi8(char(0x80));
  const __m256i ones16 = _mm256_set1_epi16(1);
  for (int64_t s = 0; s < a.nsteps; ++s, kp += 64, q += a.ncols) {
    if (a.prefetch) _mm_prefetch(reinterpret_cast<const char*>(kp + a.prefetch), _MM_HINT_T1);
    const __m256i k0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(kp));
    const __m256i k1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(kp + 32));
    if constexpr (T == ScanType::F32) {
      for (int j = 0; j < MT; ++j) {
        const __m256 qv = _mm256_castsi256_ps(_mm256_set1_epi32(int(q[j])));
        facc[0][j] = _mm256_fmadd_ps(_mm256_castsi256_ps(k0), qv, facc[0][j]);
        facc[1][j] = _mm256_fmadd_ps(_mm256_castsi256_ps(k1), qv, facc[1][j]);
      }
    } else if constexpr (T == ScanType::BF16) {
      const __m256 e0 = _mm256_castsi256_ps(_mm256_slli_epi32(k0, 16));
      const __m256 o0 = _mm256_castsi256_ps(_mm256_and_si256(k0, hi16));
      const __m256 e1 = _mm256_castsi256_ps(_mm256_slli_epi32(k1, 16));
      const __m256 o1 = _mm256_castsi256_ps(_mm256_and_si256(k1, hi16));
      for (int j = 0; j < MT; ++j) {
        const __m256i qb = _mm256_set1_epi32(int(q[j]));
        const __m256 q0 = _mm256_castsi256_ps(_mm256_slli_epi32(qb, 16));
        const __m256 q1 = _mm256_castsi256_ps(_mm256_and_si256(qb, hi16));
        facc[0][j] = _mm256_fmadd_ps(o0, q1, _mm256_fmadd_ps(e0, q0, facc[0][j]));
        facc[1][j] = _mm256_fmadd_ps(o1, q1, _mm256_fmadd_ps(e1, q0, facc[1][j]));
      }
    } else {
      const __m256i s0 = _mm256_xor_si256(k0, sign_bit), s1 = _mm256_xor_si256(k1, sign_bit);
      for (int j = 0; j < MT; ++j) {
        const __m256i qb = _mm256_set1_epi32(int(q[j]));
        const __m256i qa = _mm256_abs_epi8(qb);
        const __m256i p0 = _mm256_maddubs_epi16(qa, _mm256_sign_epi8(s0, qb));
        const __m256i p1 = _mm256_maddubs_epi16(qa, _mm256_sign_epi8(s1, qb));
        iacc[0][j] = _mm256_add_epi32(iacc[0][j], _mm256_madd_epi16(p0, ones16));
        iacc[1][j] = _mm256_add_epi32(iacc[1][j], _mm256_madd_epi16(p1, ones16));
      }
    }
  }
  for (int j = 0; j < MT; ++j)
    for (int h = 0; h < 2; ++h) {
      float* out = a.out + (col0 + j) * a.out_stride + blk * kScanLanes + 8 * h;
      if constexpr (kInt) {
        if (!a.finish) {
          _mm256_storeu_si256(reinterpret_cast<__m256i*>(out), iacc[h][j]);
          continue;
        }
        const __m256 ks = _mm256_loadu_ps(a.kscale + blk * kScanLanes + 8 * h);
        const __m256 m = _mm256_mul_ps(ks, _mm256_set1_ps(a.qscale[col0 + j]));
        _mm256_storeu_ps(out, _mm256_mul_ps(_mm256_cvtepi32_ps(iacc[h][j]), m));
      } else {
        _mm256_storeu_ps(out, facc[h][j]);
      }
    }
}

template <ScanType T>
void run(const ScanTileArgs& a) {
  constexpr int M = kMaxCols<T>;
  for (int blk = 0; blk < a.nb; ++blk)
    for (int c = 0; c < a.ncols; c += M) {
      switch (std::min(M, a.ncols - c)) {
        case 1: tile<T, 1>(a, blk, c); break;
        case 2: tile<T, 2>(a, blk, c); break;
        case 3: tile<T, 3>(a, blk, c); break;
        case 4: tile<T, 4>(a, blk, c); break;
        case 5: if constexpr (M >= 5) tile<T, 5>(a, blk, c); break;
        default: if constexpr (M >= 6) tile<T, 6>(a, blk, c); break;
      }
    }
}

}  // namespace

bool scan_tile_avx2(ScanType t, const ScanTileArgs& a) {
  if (a.ncols < 1) return false;
  switch (t) {
    case ScanType::F32: run<ScanType::F32>(a); return true;
    case ScanType::BF16: run<ScanType::BF16>(a); return true;
    case ScanType::Int8: run<ScanType::Int8>(a); return true;
  }
  return false;
}

}  // namespace msa::kernels
