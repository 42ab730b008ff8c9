// Register-resident AVX2 loops for machine_limits.cc (compiled with -mavx2
// -mfma -mf16c; called only after the runtime CPU check). They measure what
// the AVX2 kernels issue: vfmadd231ps ymm (the f32 and bf16 GEMMs — bf16 is
// widened to f32 on AVX2) and vpmaddubsw + vpmaddwd + vpaddd (the int8 scan).
#include <immintrin.h>

#include <cstddef>
#include <cstdint>

namespace msa::bench::detail {

namespace {
template <int C>
float fold(const __m256 (&a)[C]) {
  __m256 s = a[0];
  for (int i = 1; i < C; ++i) s = _mm256_add_ps(s, a[i]);
  __m128 h = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
  h = _mm_add_ps(h, _mm_movehl_ps(h, h));
  return _mm_cvtss_f32(_mm_add_ss(h, _mm_movehdup_ps(h)));
}
}  // namespace

// iters × 10 vfmadd231ps ymm (10 chains cover a 4–5 cycle latency at 2 per cycle).
float fp32_fma_loop_avx2(int64_t iters) {
  constexpr int C = 10;
  __m256 acc[C];
  for (int i = 0; i < C; ++i) acc[i] = _mm256_set1_ps(float(i));
  __m256 a = _mm256_set1_ps(0.999f), b = _mm256_set1_ps(1e-7f);
  for (int64_t it = 0; it < iters; ++it) {
    __asm__ volatile("" : "+x"(a), "+x"(b));  // operands opaque: no hoisting or folding
    for (int i = 0; i < C; ++i) acc[i] = _mm256_fmadd_ps(acc[i], a, b);
  }
  return fold(acc);
}

// iters × 4 chains of (vpmaddubsw, vpmaddwd, vpaddd): 32 u8×s8 products per chain step.
float int8_dot_loop_avx2(int64_t iters) {
  constexpr int C = 4;
  __m256i acc[C];
  for (int i = 0; i < C; ++i) acc[i] = _mm256_set1_epi32(i);
  __m256i a = _mm256_set1_epi8(3), b = _mm256_set1_epi8(-2);
  const __m256i ones = _mm256_set1_epi16(1);
  for (int64_t it = 0; it < iters; ++it) {
    __asm__ volatile("" : "+x"(a), "+x"(b));
    for (int i = 0; i < C; ++i)
      acc[i] = _mm256_add_epi32(acc[i], _mm256_madd_epi16(_mm256_maddubs_epi16(a, b), ones));
  }
  __m256i s = acc[0];
  for (int i = 1; i < C; ++i) s = _mm256_add_epi32(s, acc[i]);
  alignas(32) int32_t v[8];
  _mm256_store_si256(reinterpret_cast<__m256i*>(v), s);
  return float(v[0] + v[7]);
}

// Sum of n floats (n a multiple of 64), 8 independent 256-bit accumulators.
float read_sum_avx2(const float* p, size_t n) {
  __m256 a[8];
  for (auto& x : a) x = _mm256_setzero_ps();
  for (size_t i = 0; i < n; i += 64)
    for (int j = 0; j < 8; ++j) a[j] = _mm256_add_ps(a[j], _mm256_load_ps(p + i + 8 * j));
  return fold(a);
}

}  // namespace msa::bench::detail
