#include "kernels/attention.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/cpu_features.h"
#include "core/threads.h"

namespace msa::kernels {

// attention_avx512.cc (AVX-512 flags; only after the runtime check). Returns
// false for head dims it does not handle.
bool attention_avx512(const float* q, const float* k, const float* v, const AttentionShape& s,
                      float* out, bool causal);
// attention_avx2.cc (AVX2+FMA flags; only after the runtime check). Same contract.
bool attention_avx2(const float* q, const float* k, const float* v, const AttentionShape& s,
                    float* out, bool causal);

void attention(const float* q, const float* k, const float* v, const AttentionShape& s,
               float* out, bool causal) {
  const CpuFeatures& f = cpu_features();
  if (f.avx512 && attention_avx512(q, k, v, s, out, causal)) return;
  if (f.avx2 && attention_avx2(q, k, v, s, out, causal)) return;
  const int64_t G = s.Hq / s.Hkv, d = s.d;
  const float scale = 1.0f / std::sqrt(float(d));
  const int64_t qstride = s.Hq * d, kstride = s.Hkv * d;
  const int64_t offset = s.Tk - s.Tq;
#pragma omp parallel num_threads(msa::num_threads()) if (s.Tq * s.Tk * s.Hq > 32768)
  {
    std::vector<float> p(static_cast<size_t>(s.Tk));
#pragma omp for collapse(2) schedule(static)
    for (int64_t i = 0; i < s.Tq; ++i) {
      for (int64_t h = 0; h < s.Hq; ++h) {
        const int64_t kvh = h / G;
        const float* qi = q + i * qstride + h * d;
        const int64_t n = causal ? std::min(s.Tk, offset + i + 1) : s.Tk;
        float mx = -INFINITY;
        for (int64_t j = 0; j < n; ++j) {
          const float* kj = k + j * kstride + kvh * d;
          float dot = 0.f;
          for (int64_t e = 0; e < d; ++e) dot += qi[e] * kj[e];
          p[size_t(j)] = dot * scale;
          mx = std::max(mx, p[size_t(j)]);
        }
        float sum = 0.f;
        for (int64_t j = 0; j < n; ++j) {
          p[size_t(j)] = std::exp(p[size_t(j)] - mx);
          sum += p[size_t(j)];
        }
        const float inv = sum > 0.f ? 1.0f / sum : 0.f;
        float* o = out + i * qstride + h * d;
        for (int64_t e = 0; e < d; ++e) o[e] = 0.f;
        for (int64_t j = 0; j < n; ++j) {
          const float w = p[size_t(j)] * inv;
          const float* vj = v + j * kstride + kvh * d;
          for (int64_t e = 0; e < d; ++e) o[e] += w * vj[e];
        }
      }
    }
  }
}

void attention_backward(const float* q, const float* k, const float* v, const AttentionShape& s,
                        const float* dout, float* dq, float* dk, float* dv, bool causal) {
  const int64_t G = s.Hq / s.Hkv, d = s.d;
  const float scale = 1.0f / std::sqrt(float(d));
  const int64_t qstride = s.Hq * d, kstride = s.Hkv * d;
  const int64_t offset = s.Tk - s.Tq;
  std::vector<float> p(static_cast<size_t>(s.Tk)), dp(static_cast<size_t>(s.Tk));
  for (int64_t i = 0; i < s.Tq; ++i) {
    for (int64_t h = 0; h < s.Hq; ++h) {
      const int64_t kvh = h / G;
      const float* qi = q + i * qstride + h * d;
      const float* go = dout + i * qstride + h * d;
      const int64_t n = causal ? std::min(s.Tk, offset + i + 1) : s.Tk;
      float mx = -INFINITY;
      for (int64_t j = 0; j < n; ++j) {
        const float* kj = k + j * kstride + kvh * d;
        float dot = 0.f;
        for (int64_t e = 0; e < d; ++e) dot += qi[e] * kj[e];
        p[size_t(j)] = dot * scale;
        mx = std::max(mx, p[size_t(j)]);
      }
      float sum = 0.f;
      for (int64_t j = 0; j < n; ++j) {
        p[size_t(j)] = std::exp(p[size_t(j)] - mx);
        sum += p[size_t(j)];
      }
      for (int64_t j = 0; j < n; ++j) p[size_t(j)] /= sum;
      // dP_j = <dout, v_j>;  dS_j = P_j (dP_j − Σ P dP)
      float pdp = 0.f;
      for (int64_t j = 0; j < n; ++j) {
        const float* vj = v + j * kstride + kvh * d;
        float dot = 0.f;
        for (int64_t e = 0; e < d; ++e) dot += go[e] * vj[e];
        dp[size_t(j)] = dot;
        pdp += p[size_t(j)] * dot;
        float* dvj = dv + j * kstride + kvh * d;
        for (int64_t e = 0; e < d; ++e) dvj[e] += p[size_t(j)] * go[e];
      }
      float* dqi = dq + i * qstride + h * d;
      for (int64_t e = 0; e < d; ++e) dqi[e] = 0.f;
      for (int64_t j = 0; j < n; ++j) {
        const float ds = p[size_t(j)] * (dp[size_t(j)] - pdp) * scale;
        const float* kj = k + j * kstride + kvh * d;
        float* dkj = dk + j * kstride + kvh * d;
        for (int64_t e = 0; e < d; ++e) {
          dqi[e] += ds * kj[e];
          dkj[e] += ds * qi[e];
        }
      }
    }
  }
}

}  // namespace msa::kernels
