#include "kernels/rope.h"

#include <cmath>
#include <vector>

#include "core/cpu_features.h"

namespace msa::kernels {

// elementwise_avx2.cc (AVX2 flags; only after the runtime check). Same operations as the loop below (to ~1 ulp: FMA contraction).
void rope_rotate_avx2(float* v, const float* c, const float* s, int64_t half);

namespace {

void rope_impl(float* x, int64_t T, int64_t heads, int64_t d, const int32_t* positions, float theta,
               float sign) {
  const int64_t half = d / 2;
  std::vector<float> inv_freq(static_cast<size_t>(half)), c(static_cast<size_t>(half)), s(static_cast<size_t>(half));
  for (int64_t i = 0; i < half; ++i)
    inv_freq[size_t(i)] = 1.0f / std::pow(theta, float(2 * i) / float(d));
  for (int64_t t = 0; t < T; ++t) {
    const float p = float(positions[t]);
    for (int64_t i = 0; i < half; ++i) {
      const float a = p * inv_freq[size_t(i)];  // f32 angle, like the reference
      c[size_t(i)] = std::cos(a);
      s[size_t(i)] = sign * std::sin(a);
    }
    const bool avx2 = cpu_features().avx2;
    for (int64_t h = 0; h < heads; ++h) {
      float* v = x + (t * heads + h) * d;
      if (avx2) {
        rope_rotate_avx2(v, c.data(), s.data(), half);
        continue;
      }
      for (int64_t i = 0; i < half; ++i) {
        const float a = v[i], b = v[i + half];
        v[i] = a * c[size_t(i)] - b * s[size_t(i)];
        v[i + half] = b * c[size_t(i)] + a * s[size_t(i)];
      }
    }
  }
}

}  // namespace

void rope_apply(float* x, int64_t T, int64_t heads, int64_t d, const int32_t* positions,
                float theta) {
  rope_impl(x, T, heads, d, positions, theta, 1.f);
}

void rope_backward(float* dx, int64_t T, int64_t heads, int64_t d, const int32_t* positions,
                   float theta) {
  rope_impl(dx, T, heads, d, positions, theta, -1.f);
}

}  // namespace msa::kernels
