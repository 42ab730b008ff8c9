// AVX-512 causal GQA attention forward (compiled with -mavx512*; entered only
// after the runtime check in attention.cc). Same semantics and f32 softmax as
// the scalar kernel; made for decode (small Tq, long Tk) where the work is
// streaming K and V:
//   - work items are (query row, KV head); the G = Hq/Hkv query heads that
//     share a KV head are processed together, so each K/V row block is read
//     from memory once and reused from L1 by all G heads;
//   - scores: four keys at a time per head (four 16-lane accumulators reduced
//     with one shuffle tree);
//   - softmax with a vector exp (exp_avx512.h, ≈2 ulp);
//   - output: the head's d-vector lives in registers (d/16 zmm) while a block
//     of V rows is accumulated.
// Handles head dims d = 64, 128, 256 (the others fall back to scalar).
#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "core/aligned_buffer.h"
#include "core/threads.h"
#include "kernels/attention.h"
#include "kernels/reduce_avx512.h"
#include "kernels/exp_avx512.h"

namespace msa::kernels {
namespace {

constexpr int64_t kBlock = 64;  // keys per block: 64 rows × d floats of K or V in L1


// Scores of one head against keys [j0, j1): p[j] = (q·k_j)·scale.
template <int D16>
void scores(const float* qh, const float* k, int64_t kstride, int64_t j0, int64_t j1, float scale, float* p) {
  __m512 qv[D16];
  for (int c = 0; c < D16; ++c) qv[c] = _mm512_loadu_ps(qh + 16 * c);
  int64_t j = j0;
  for (; j + 4 <= j1; j += 4) {
    const float* k0 = k + j * kstride;
    __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    for (int c = 0; c < D16; ++c) {
      a0 = _mm512_fmadd_ps(qv[c], _mm512_loadu_ps(k0 + 16 * c), a0);
      a1 = _mm512_fmadd_ps(qv[c], _mm512_loadu_ps(k0 + kstride + 16 * c), a1);
      a2 = _mm512_fmadd_ps(qv[c], _mm512_loadu_ps(k0 + 2 * kstride + 16 * c), a2);
      a3 = _mm512_fmadd_ps(qv[c], _mm512_loadu_ps(k0 + 3 * kstride + 16 * c), a3);
    }
    _mm_storeu_ps(p + j, _mm_mul_ps(reduce4(a0, a1, a2, a3), _mm_set1_ps(scale)));
  }
  for (; j < j1; ++j) {
    const float* kj = k + j * kstride;
    __m512 a = _mm512_setzero_ps();
    for (int c = 0; c < D16; ++c) a = _mm512_fmadd_ps(qv[c], _mm512_loadu_ps(kj + 16 * c), a);
    p[j] = _mm512_reduce_add_ps(a) * scale;
  }
}

// p[0..n) ← exp(p − max); returns Σ.
float softmax_numerators(float* p, int64_t n) {
  __m512 mx = _mm512_set1_ps(-INFINITY);
  int64_t j = 0;
  for (; j + 16 <= n; j += 16) mx = _mm512_max_ps(mx, _mm512_loadu_ps(p + j));
  float m = _mm512_reduce_max_ps(mx);
  for (; j < n; ++j) m = std::max(m, p[j]);
  const __m512 mv = _mm512_set1_ps(m);
  __m512 sum = _mm512_setzero_ps();
  for (j = 0; j < n; j += 16) {
    const __mmask16 msk = n - j >= 16 ? __mmask16(0xffff) : __mmask16((1u << (n - j)) - 1u);
    const __m512 e = simd::exp_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(msk, p + j), mv));
    _mm512_mask_storeu_ps(p + j, msk, e);
    sum = _mm512_add_ps(sum, _mm512_maskz_mov_ps(msk, e));
  }
  return _mm512_reduce_add_ps(sum);
}

// o (d floats) += Σ_{j∈[j0,j1)} p[j]·v_j.
template <int D16>
void accumulate_values(const float* p, const float* v, int64_t vstride, int64_t j0, int64_t j1, float* o) {
  __m512 acc[D16];
  for (int c = 0; c < D16; ++c) acc[c] = _mm512_loadu_ps(o + 16 * c);
  for (int64_t j = j0; j < j1; ++j) {
    const __m512 w = _mm512_set1_ps(p[j]);
    const float* vj = v + j * vstride;
    for (int c = 0; c < D16; ++c) acc[c] = _mm512_fmadd_ps(w, _mm512_loadu_ps(vj + 16 * c), acc[c]);
  }
  for (int c = 0; c < D16; ++c) _mm512_storeu_ps(o + 16 * c, acc[c]);
}

template <int D16>
void attention_impl(const float* q, const float* k, const float* v, const AttentionShape& s, float* out,
                    bool causal) {
  constexpr int64_t d = 16 * D16;
  const int64_t G = s.Hq / s.Hkv;
  const float scale = 1.0f / std::sqrt(float(d));
  const int64_t qstride = s.Hq * d, kstride = s.Hkv * d;
  const int64_t offset = s.Tk - s.Tq;
  const int64_t items = s.Tq * s.Hkv;
  const bool parallel = s.Tq * s.Tk * s.Hq > 32768;
#pragma omp parallel num_threads(msa::num_threads()) if (parallel)
  {
    AlignedBuffer<float> pbuf(size_t(G * s.Tk + 16));
#pragma omp for schedule(dynamic, 1)
    for (int64_t item = 0; item < items; ++item) {
      const int64_t i = item / s.Hkv, kvh = item % s.Hkv;
      const int64_t n = causal ? std::min(s.Tk, offset + i + 1) : s.Tk;
      const float* kh = k + kvh * d;
      const float* vh = v + kvh * d;
      // Scores, key block by key block so the block is reused by all G heads from L1.
      for (int64_t j0 = 0; j0 < n; j0 += kBlock) {
        const int64_t j1 = std::min(n, j0 + kBlock);
        for (int64_t g = 0; g < G; ++g)
          scores<D16>(q + i * qstride + (kvh * G + g) * d, kh, kstride, j0, j1, scale, pbuf.data() + g * s.Tk);
      }
      for (int64_t g = 0; g < G; ++g) {
        float* p = pbuf.data() + g * s.Tk;
        float* o = out + i * qstride + (kvh * G + g) * d;
        std::fill(o, o + d, 0.f);
        if (n <= 0) continue;
        const float sum = softmax_numerators(p, n);
        const __m512 inv = _mm512_set1_ps(sum > 0.f ? 1.0f / sum : 0.f);
        for (int64_t j = 0; j < n; j += 16) {
          const __mmask16 msk = n - j >= 16 ? __mmask16(0xffff) : __mmask16((1u << (n - j)) - 1u);
          _mm512_mask_storeu_ps(p + j, msk, _mm512_mul_ps(_mm512_maskz_loadu_ps(msk, p + j), inv));
        }
      }
      for (int64_t j0 = 0; j0 < n; j0 += kBlock) {
        const int64_t j1 = std::min(n, j0 + kBlock);
        for (int64_t g = 0; g < G; ++g)
          accumulate_values<D16>(pbuf.data() + g * s.Tk, vh, kstride, j0, j1,
                                 out + i * qstride + (kvh * G + g) * d);
      }
    }
  }
}

}  // namespace

// Returns false for shapes it does not handle (the caller then runs the scalar kernel).
bool attention_avx512(const float* q, const float* k, const float* v, const AttentionShape& s, float* out,
                      bool causal) {
  if (s.Hkv <= 0 || s.Hq % s.Hkv != 0) return false;
  switch (s.d) {
    case 64: attention_impl<4>(q, k, v, s, out, causal); return true;
    case 128: attention_impl<8>(q, k, v, s, out, causal); return true;
    case 256: attention_impl<16>(q, k, v, s, out, causal); return true;
    default: return false;
  }
}

}  // namespace msa::kernels
