// AVX2 rmsnorm and SwiGLU (compiled with -mavx2 -mfma -mf16c; entered only
// after the runtime check in rmsnorm.cc / swiglu.cc, whose scalar loops stay
// the reference). Same structure as elementwise_avx512.cc; tails use
// vmaskmovps.
#include <immintrin.h>

#include <cstdint>

#include "kernels/exp_avx2.h"
#include "kernels/reduce_avx2.h"

namespace msa::kernels {

void rmsnorm_avx2(const float* x, const float* w, int64_t rows, int64_t n, float eps, float* out) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * n;
    float* o = out + r * n;
    __m256 s0 = _mm256_setzero_ps(), s1 = s0;  // two chains: sum of squares
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
      const __m256 a = _mm256_loadu_ps(xr + i), b = _mm256_loadu_ps(xr + i + 8);
      s0 = _mm256_fmadd_ps(a, a, s0);
      s1 = _mm256_fmadd_ps(b, b, s1);
    }
    for (; i < n; i += 8) {
      const __m256 a = _mm256_maskload_ps(xr + i, avx2::tail_mask8(n - i));
      s0 = _mm256_fmadd_ps(a, a, s0);
    }
    const float ss = avx2::reduce_add(_mm256_add_ps(s0, s1));
    const __m256 inv = _mm256_set1_ps(1.0f / __builtin_sqrtf(ss / float(n) + eps));
    for (i = 0; i < n; i += 8) {  // out may alias x: each element is read before it is written
      const __m256i m = avx2::tail_mask8(n - i);
      const __m256 v = _mm256_mul_ps(_mm256_maskload_ps(xr + i, m), inv);
      _mm256_maskstore_ps(o + i, m, _mm256_mul_ps(_mm256_maskload_ps(w + i, m), v));
    }
  }
}

void swiglu_avx2(const float* gate, const float* up, int64_t n, float* out) {
  const __m256 one = _mm256_set1_ps(1.0f);
  for (int64_t i = 0; i < n; i += 8) {
    const __m256i m = avx2::tail_mask8(n - i);
    const __m256 g = _mm256_maskload_ps(gate + i, m);
    const __m256 e = simd::exp_ps_avx2(_mm256_sub_ps(_mm256_setzero_ps(), g));
    const __m256 silu = _mm256_div_ps(g, _mm256_add_ps(one, e));
    _mm256_maskstore_ps(out + i, m, _mm256_mul_ps(silu, _mm256_maskload_ps(up + i, m)));
  }
}

}  // namespace msa::kernels

namespace msa::kernels {

// RoPE rotation of one head (rope.cc): v[i] = a·c − b·s, v[i+half] = b·c + a·s,
// the scalar loop's operations; with FMA available GCC contracts one multiply
// and the add into an FMA (one rounding fewer), so results agree to ~1 ulp.
void rope_rotate_avx2(float* v, const float* c, const float* s, int64_t half) {
  int64_t i = 0;
  for (; i + 8 <= half; i += 8) {
    const __m256 a = _mm256_loadu_ps(v + i), b = _mm256_loadu_ps(v + i + half);
    const __m256 cv = _mm256_loadu_ps(c + i), sv = _mm256_loadu_ps(s + i);
    _mm256_storeu_ps(v + i, _mm256_sub_ps(_mm256_mul_ps(a, cv), _mm256_mul_ps(b, sv)));
    _mm256_storeu_ps(v + i + half, _mm256_add_ps(_mm256_mul_ps(b, cv), _mm256_mul_ps(a, sv)));
  }
  for (; i < half; ++i) {
    const float a = v[i], b = v[i + half];
    v[i] = a * c[i] - b * s[i];
    v[i + half] = b * c[i] + a * s[i];
  }
}

// Mean of rows [b, e) of x [·, dim] into o (pooling.cc): the same sums in the
// same order as the scalar loop (row by row), so bit-identical to it.
void mean_rows_avx2(const float* x, int64_t b, int64_t e, int64_t dim, float* o) {
  const float inv = 1.0f / float(e - b);
  const __m256 invv = _mm256_set1_ps(inv);
  for (int64_t i0 = 0; i0 < dim; i0 += 64) {  // 8 ymm accumulators per pass over the rows
    const int64_t w = dim - i0 < 64 ? dim - i0 : 64;
    __m256 acc[8];
    for (auto& a : acc) a = _mm256_setzero_ps();
    for (int64_t j = b; j < e; ++j) {
      const float* r = x + j * dim + i0;
      for (int k = 0; k < 8 && 8 * k < w; ++k)
        acc[k] = _mm256_add_ps(acc[k], _mm256_maskload_ps(r + 8 * k, avx2::tail_mask8(w - 8 * k)));
    }
    for (int k = 0; k < 8 && 8 * k < w; ++k)
      _mm256_maskstore_ps(o + i0 + 8 * k, avx2::tail_mask8(w - 8 * k), _mm256_mul_ps(acc[k], invv));
  }
}

}  // namespace msa::kernels
