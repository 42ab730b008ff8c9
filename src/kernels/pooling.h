// Chunk mean-pooling: consecutive blocks of P rows are averaged (f32
// accumulation, divided by the block's true row count, so a final partial
// chunk is the mean of its real rows, never zero-padded).
#pragma once

#include <cstdint>

namespace msa::kernels {

inline int64_t num_chunks(int64_t n, int64_t P) { return (n + P - 1) / P; }

// x: [n, dim]; out: [num_chunks(n, P), dim].
void mean_pool_chunks(const float* x, int64_t n, int64_t dim, int64_t P, float* out);

// Backward: dx[j] += dout[chunk(j)] / |chunk(j)|.
void mean_pool_chunks_backward(const float* dout, int64_t n, int64_t dim, int64_t P, float* dx);

// Per-vector L2 normalisation: x[r] /= max(‖x[r]‖₂, 1e-12) for `rows` vectors of length d.
void l2_normalize_rows(float* x, int64_t rows, int64_t d);

}  // namespace msa::kernels
