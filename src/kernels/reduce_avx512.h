// Horizontal reductions shared by the AVX-512 kernels. Include only from
// *_avx512.cc files (compiled with the AVX-512 flags).
#pragma once

#include <immintrin.h>

namespace msa::kernels {

// Four 16-lane accumulators → their four sums in one 128-bit vector.
inline __m128 reduce4(__m512 a0, __m512 a1, __m512 a2, __m512 a3) {
  // Fold 256-bit halves: t01 = [a0.c0+a0.c2, a0.c1+a0.c3, a1.c0+a1.c2, a1.c1+a1.c3].
  const __m512 t01 = _mm512_add_ps(_mm512_shuffle_f32x4(a0, a1, 0x44), _mm512_shuffle_f32x4(a0, a1, 0xEE));
  const __m512 t23 = _mm512_add_ps(_mm512_shuffle_f32x4(a2, a3, 0x44), _mm512_shuffle_f32x4(a2, a3, 0xEE));
  // 128-bit chunk j now holds four partial sums of accumulator j.
  __m512 u = _mm512_add_ps(_mm512_shuffle_f32x4(t01, t23, 0x88), _mm512_shuffle_f32x4(t01, t23, 0xDD));
  u = _mm512_add_ps(u, _mm512_shuffle_ps(u, u, 0x4E));
  u = _mm512_add_ps(u, _mm512_shuffle_ps(u, u, 0xB1));
  const __m512i pick = _mm512_set_epi32(15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 12, 8, 4, 0);
  return _mm512_castps512_ps128(_mm512_permutexvar_ps(pick, u));
}

}  // namespace msa::kernels
