// Register-resident ISA loops for machine_limits.cc (compiled with AVX-512
// flags; called only after the runtime CPU check).
#include <immintrin.h>

#include <cstddef>
#include <cstdint>

namespace msa::bench::detail {

namespace {
// Folds the accumulators so the compiler cannot drop the loop.
template <int C>
float fold(const __m512 (&a)[C]) {
  __m512 s = a[0];
  for (int i = 1; i < C; ++i) s = _mm512_add_ps(s, a[i]);
  return _mm512_reduce_add_ps(s);
}
}  // namespace

// iters × 12 instructions; returns a value that depends on every one.
float bf16_dot_loop(int64_t iters) {
  constexpr int C = 12;
  __m512 acc[C];
  for (int i = 0; i < C; ++i) acc[i] = _mm512_set1_ps(float(i));
  __m512bh a = (__m512bh)_mm512_set1_epi16(0x3f80), b = (__m512bh)_mm512_set1_epi16(0x3c00);
  for (int64_t it = 0; it < iters; ++it) {
    // The asm barrier keeps the operands opaque (no hoisting or folding).
    __asm__ volatile("" : "+v"(a), "+v"(b));
    for (int i = 0; i < C; ++i) acc[i] = _mm512_dpbf16_ps(acc[i], a, b);
  }
  return fold(acc);
}

float fp32_fma_loop(int64_t iters) {
  constexpr int C = 12;
  __m512 acc[C];
  for (int i = 0; i < C; ++i) acc[i] = _mm512_set1_ps(float(i));
  __m512 a = _mm512_set1_ps(0.999f), b = _mm512_set1_ps(1e-7f);
  for (int64_t it = 0; it < iters; ++it) {
    __asm__ volatile("" : "+v"(a), "+v"(b));
    for (int i = 0; i < C; ++i) acc[i] = _mm512_fmadd_ps(acc[i], a, b);
  }
  return fold(acc);
}

float int8_dot_loop(int64_t iters) {
  constexpr int C = 10;
  __m512i acc[C];
  for (int i = 0; i < C; ++i) acc[i] = _mm512_set1_epi32(i);
  __m512i a = _mm512_set1_epi8(3), b = _mm512_set1_epi8(-2);
  for (int64_t it = 0; it < iters; ++it) {
    __asm__ volatile("" : "+v"(a), "+v"(b));
    for (int i = 0; i < C; ++i) acc[i] = _mm512_dpbusd_epi32(acc[i], a, b);
  }
  __m512i s = acc[0];
  for (int i = 1; i < C; ++i) s = _mm512_add_epi32(s, acc[i]);
  return float(_mm512_reduce_add_epi32(s));
}

// Sum of n floats (n a multiple of 128), 8 independent 512-bit accumulators.
float read_sum(const float* p, size_t n) {
  __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
  for (size_t i = 0; i < n; i += 128) {
    a0 = _mm512_add_ps(a0, _mm512_load_ps(p + i));
    a1 = _mm512_add_ps(a1, _mm512_load_ps(p + i + 16));
    a2 = _mm512_add_ps(a2, _mm512_load_ps(p + i + 32));
    a3 = _mm512_add_ps(a3, _mm512_load_ps(p + i + 48));
    a4 = _mm512_add_ps(a4, _mm512_load_ps(p + i + 64));
    a5 = _mm512_add_ps(a5, _mm512_load_ps(p + i + 80));
    a6 = _mm512_add_ps(a6, _mm512_load_ps(p + i + 96));
    a7 = _mm512_add_ps(a7, _mm512_load_ps(p + i + 112));
  }
  a0 = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)),
                     _mm512_add_ps(_mm512_add_ps(a4, a5), _mm512_add_ps(a6, a7)));
  return _mm512_reduce_add_ps(a0);
}

}  // namespace msa::bench::detail
