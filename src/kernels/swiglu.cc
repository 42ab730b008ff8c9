#include "kernels/swiglu.h"

#include <cmath>

#include "core/cpu_features.h"

namespace msa::kernels {

// elementwise_avx512.cc (AVX-512 flags; only after the runtime check).
void swiglu_avx512(const float* gate, const float* up, int64_t n, float* out);
// elementwise_avx2.cc (AVX2+FMA flags; only after the runtime check).
void swiglu_avx2(const float* gate, const float* up, int64_t n, float* out);

void swiglu(const float* gate, const float* up, int64_t n, float* out) {
  if (cpu_features().avx512) return swiglu_avx512(gate, up, n, out);
  if (cpu_features().avx2) return swiglu_avx2(gate, up, n, out);
  for (int64_t i = 0; i < n; ++i) {
    const float g = gate[i];
    out[i] = g / (1.0f + std::exp(-g)) * up[i];
  }
}

void swiglu_backward(const float* gate, const float* up, const float* dout, int64_t n,
                     float* dgate, float* dup) {
  for (int64_t i = 0; i < n; ++i) {
    const float g = gate[i];
    const float sg = 1.0f / (1.0f + std::exp(-g));
    const float silu = g * sg;
    dup[i] = dout[i] * silu;
    dgate[i] = dout[i] * up[i] * (sg * (1.0f + g * (1.0f - sg)));
  }
}

}  // namespace msa::kernels
