#include "kernels/rmsnorm.h"

#include <cmath>

#include "core/cpu_features.h"

namespace msa::kernels {

// elementwise_avx512.cc (AVX-512 flags; only after the runtime check).
void rmsnorm_avx512(const float* x, const float* w, int64_t rows, int64_t n, float eps, float* out);
// elementwise_avx2.cc (AVX2+FMA flags; only after the runtime check).
void rmsnorm_avx2(const float* x, const float* w, int64_t rows, int64_t n, float eps, float* out);

void rmsnorm(const float* x, const float* w, int64_t rows, int64_t n, float eps, float* out) {
  if (cpu_features().avx512) return rmsnorm_avx512(x, w, rows, n, eps, out);
  if (cpu_features().avx2) return rmsnorm_avx2(x, w, rows, n, eps, out);
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * n;
    float* o = out + r * n;
    float ss = 0.f;
    for (int64_t i = 0; i < n; ++i) ss += xr[i] * xr[i];
    const float inv = 1.0f / std::sqrt(ss / float(n) + eps);
    for (int64_t i = 0; i < n; ++i) o[i] = w[i] * (xr[i] * inv);
  }
}

void rmsnorm_backward(const float* x, const float* w, const float* dy, int64_t rows, int64_t n,
                      float eps, float* dx, float* dw) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * n;
    const float* g = dy + r * n;
    float ss = 0.f;
    for (int64_t i = 0; i < n; ++i) ss += xr[i] * xr[i];
    const float inv = 1.0f / std::sqrt(ss / float(n) + eps);
    // y_i = w_i x_i inv;  dx_j = inv * (w_j g_j - x_j inv² / n * Σ_i w_i g_i x_i)
    float dot = 0.f;
    for (int64_t i = 0; i < n; ++i) dot += w[i] * g[i] * xr[i];
    for (int64_t i = 0; i < n; ++i) {
      dx[r * n + i] = inv * (w[i] * g[i] - xr[i] * inv * inv * dot / float(n));
      if (dw) dw[i] += g[i] * xr[i] * inv;
    }
  }
}

}  // namespace msa::kernels
