// RMSNorm over rows: out = w ⊙ (x · rsqrt(mean(x²) + eps)), statistic in f32.
#pragma once

#include <cstdint>

namespace msa::kernels {

// x, out: [rows, n] (may alias); w: [n].
void rmsnorm(const float* x, const float* w, int64_t rows, int64_t n, float eps, float* out);

// Backward of rmsnorm for one row set: given dy, returns dx (and accumulates dw).
void rmsnorm_backward(const float* x, const float* w, const float* dy, int64_t rows, int64_t n,
                      float eps, float* dx, float* dw);

}  // namespace msa::kernels
