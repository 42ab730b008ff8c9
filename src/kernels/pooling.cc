#include "kernels/pooling.h"

#include <algorithm>
#include <cmath>

#include "core/cpu_features.h"

namespace msa::kernels {

// elementwise_avx2.cc (AVX2 flags; only after the runtime check). Bit-identical to the loop below.
void mean_rows_avx2(const float* x, int64_t b, int64_t e, int64_t dim, float* o);

void mean_pool_chunks(const float* x, int64_t n, int64_t dim, int64_t P, float* out) {
  const int64_t C = num_chunks(n, P);
  const bool avx2 = cpu_features().avx2;
  for (int64_t c = 0; c < C; ++c) {
    const int64_t b = c * P, e = std::min(n, b + P);
    float* o = out + c * dim;
    if (avx2) {
      mean_rows_avx2(x, b, e, dim, o);
      continue;
    }
    for (int64_t i = 0; i < dim; ++i) o[i] = 0.f;
    for (int64_t j = b; j < e; ++j)
      for (int64_t i = 0; i < dim; ++i) o[i] += x[j * dim + i];
    const float inv = 1.0f / float(e - b);
    for (int64_t i = 0; i < dim; ++i) o[i] *= inv;
  }
}

void mean_pool_chunks_backward(const float* dout, int64_t n, int64_t dim, int64_t P, float* dx) {
  for (int64_t j = 0; j < n; ++j) {
    const int64_t c = j / P;
    const int64_t cnt = std::min(n, (c + 1) * P) - c * P;
    const float inv = 1.0f / float(cnt);
    for (int64_t i = 0; i < dim; ++i) dx[j * dim + i] += dout[c * dim + i] * inv;
  }
}

void l2_normalize_rows(float* x, int64_t rows, int64_t d) {
  for (int64_t r = 0; r < rows; ++r) {
    float* v = x + r * d;
    float ss = 0.f;
    for (int64_t i = 0; i < d; ++i) ss += v[i] * v[i];
    const float inv = 1.0f / std::max(std::sqrt(ss), 1e-12f);
    for (int64_t i = 0; i < d; ++i) v[i] *= inv;
  }
}

}  // namespace msa::kernels
