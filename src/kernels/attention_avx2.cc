// AVX2 causal GQA attention forward (compiled with -mavx2 -mfma -mf16c;
// entered only after the runtime check in attention.cc). Same algorithm as
// attention_avx512.cc — work items are (query row, KV head) so the G query
// heads sharing a KV head reuse each K/V block from L1; scores four keys at a
// time; f32 softmax with a vector exp; V accumulated with the output in
// registers — sized for 16 ymm registers: the query is read from L1 (not held
// in registers) and the output is accumulated 64 floats (8 ymm) at a time.
// Handles head dims d = 64, 128, 256 (the others fall back to scalar).
#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "core/aligned_buffer.h"
#include "core/threads.h"
#include "kernels/attention.h"
#include "kernels/exp_avx2.h"
#include "kernels/reduce_avx2.h"

namespace msa::kernels {
namespace {

constexpr int64_t kBlock = 64;  // keys per block: 64 rows × d floats of K or V in L1

// Scores of one head against keys [j0, j1): p[j] = (q·k_j)·scale.
template <int D8>
void scores(const float* qh, const float* k, int64_t kstride, int64_t j0, int64_t j1, float scale, float* p) {
  int64_t j = j0;
  for (; j + 4 <= j1; j += 4) {
    const float* k0 = k + j * kstride;
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    for (int c = 0; c < D8; ++c) {
      const __m256 qv = _mm256_loadu_ps(qh + 8 * c);
      a0 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(k0 + 8 * c), a0);
      a1 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(k0 + kstride + 8 * c), a1);
      a2 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(k0 + 2 * kstride + 8 * c), a2);
      a3 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(k0 + 3 * kstride + 8 * c), a3);
    }
    _mm_storeu_ps(p + j, _mm_mul_ps(avx2::reduce4(a0, a1, a2, a3), _mm_set1_ps(scale)));
  }
  for (; j < j1; ++j) {
    const float* kj = k + j * kstride;
    __m256 a = _mm256_setzero_ps();
    for (int c = 0; c < D8; ++c) a = _mm256_fmadd_ps(_mm256_loadu_ps(qh + 8 * c), _mm256_loadu_ps(kj + 8 * c), a);
    p[j] = avx2::reduce_add(a) * scale;
  }
}

// p[0..n) ← exp(p − max); returns Σ.
float softmax_numerators(float* p, int64_t n) {
  __m256 mx = _mm256_set1_ps(-INFINITY);
  int64_t j = 0;
  for (; j + 8 <= n; j += 8) mx = _mm256_max_ps(mx, _mm256_loadu_ps(p + j));
  float m = avx2::reduce_max(mx);
  for (; j < n; ++j) m = std::max(m, p[j]);
  const __m256 mv = _mm256_set1_ps(m);
  __m256 sum = _mm256_setzero_ps();
  for (j = 0; j < n; j += 8) {
    const __m256i msk = avx2::tail_mask8(n - j);
    const __m256 e = _mm256_and_ps(simd::exp_ps_avx2(_mm256_sub_ps(_mm256_maskload_ps(p + j, msk), mv)),
                                   _mm256_castsi256_ps(msk));
    _mm256_maskstore_ps(p + j, msk, e);
    sum = _mm256_add_ps(sum, e);
  }
  return avx2::reduce_add(sum);
}

// o (d floats) += Σ_{j∈[j0,j1)} p[j]·v_j, 64 output floats at a time.
template <int D8>
void accumulate_values(const float* p, const float* v, int64_t vstride, int64_t j0, int64_t j1, float* o) {
  constexpr int C = D8 < 8 ? D8 : 8;
  for (int c0 = 0; c0 < D8; c0 += C) {
    __m256 acc[C];
    for (int c = 0; c < C; ++c) acc[c] = _mm256_loadu_ps(o + 8 * (c0 + c));
    for (int64_t j = j0; j < j1; ++j) {
      const __m256 w = _mm256_broadcast_ss(p + j);
      const float* vj = v + j * vstride + 8 * c0;
      for (int c = 0; c < C; ++c) acc[c] = _mm256_fmadd_ps(w, _mm256_loadu_ps(vj + 8 * c), acc[c]);
    }
    for (int c = 0; c < C; ++c) _mm256_storeu_ps(o + 8 * (c0 + c), acc[c]);
  }
}

template <int D8>
void attention_impl(const float* q, const float* k, const float* v, const AttentionShape& s, float* out,
                    bool causal) {
  constexpr int64_t d = 8 * D8;
  const int64_t G = s.Hq / s.Hkv;
  const float scale = 1.0f / std::sqrt(float(d));
  const int64_t qstride = s.Hq * d, kstride = s.Hkv * d;
  const int64_t offset = s.Tk - s.Tq;
  const int64_t items = s.Tq * s.Hkv;
  const bool parallel = s.Tq * s.Tk * s.Hq > 32768;
#pragma omp parallel num_threads(msa::num_threads()) if (parallel)
  {
    AlignedBuffer<float> pbuf(size_t(G * s.Tk + 8));
#pragma omp for schedule(dynamic, 1)
    for (int64_t item = 0; item < items; ++item) {
      const int64_t i = item / s.Hkv, kvh = item % s.Hkv;
      const int64_t n = causal ? std::min(s.Tk, offset + i + 1) : s.Tk;
      const float* kh = k + kvh * d;
      const float* vh = v + kvh * d;
      for (int64_t j0 = 0; j0 < n; j0 += kBlock) {
        const int64_t j1 = std::min(n, j0 + kBlock);
        for (int64_t g = 0; g < G; ++g)
          scores<D8>(q + i * qstride + (kvh * G + g) * d, kh, kstride, j0, j1, scale, pbuf.data() + g * s.Tk);
      }
      for (int64_t g = 0; g < G; ++g) {
        float* p = pbuf.data() + g * s.Tk;
        float* o = out + i * qstride + (kvh * G + g) * d;
        std::fill(o, o + d, 0.f);
        if (n <= 0) continue;
        const float sum = softmax_numerators(p, n);
        const __m256 inv = _mm256_set1_ps(sum > 0.f ? 1.0f / sum : 0.f);
        for (int64_t j = 0; j < n; j += 8) {
          const __m256i msk = avx2::tail_mask8(n - j);
          _mm256_maskstore_ps(p + j, msk, _mm256_mul_ps(_mm256_maskload_ps(p + j, msk), inv));
        }
      }
      for (int64_t j0 = 0; j0 < n; j0 += kBlock) {
        const int64_t j1 = std::min(n, j0 + kBlock);
        for (int64_t g = 0; g < G; ++g)
          accumulate_values<D8>(pbuf.data() + g * s.Tk, vh, kstride, j0, j1, out + i * qstride + (kvh * G + g) * d);
      }
    }
  }
}

}  // namespace

bool attention_avx2(const float* q, const float* k, const float* v, const AttentionShape& s, float* out,
                    bool causal) {
  if (s.Hkv <= 0 || s.Hq % s.Hkv != 0) return false;
  switch (s.d) {
    case 64: attention_impl<8>(q, k, v, s, out, causal); return true;
    case 128: attention_impl<16>(q, k, v, s, out, causal); return true;
    case 256: attention_impl<32>(q, k, v, s, out, causal); return true;
    default: return false;
  }
}

}  // namespace msa::kernels
