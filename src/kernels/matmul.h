// Dense matrix multiply against a stored weight matrix:  y[T,N] = x[T,K] · Wᵀ,
// W row-major [N, K] as in HF checkpoints ([out_features, in_features]).
// Activations are f32; weights are read in place (mmap'd) as f32, bf16 or f16.
//
// Numerics: f32 weights accumulate in f32 with f32 inputs (exact enough for
// golden parity). bf16 weights use bf16×bf16 products with f32 accumulation
// (x is rounded to bf16, as in the reference's bf16 GEMMs). f16 weights are
// widened to f32.
#pragma once

#include <cstdint>

namespace msa::kernels {

enum class WType : uint8_t { F32, BF16, F16 };

struct WeightView {
  const void* data = nullptr;
  WType type = WType::F32;
  int64_t rows = 0;  // N (output features)
  int64_t cols = 0;  // K (input features)
};

// Dispatches to the best path for this CPU and shape (GEMV for T == 1).
// Multi-threaded with OpenMP (msa::num_threads()).
void matmul(const float* x, int64_t T, const WeightView& w, float* y);

// Plain scalar reference: same rounding of inputs, f64 accumulation.
void matmul_ref(const float* x, int64_t T, const WeightView& w, float* y);

// Which implementation matmul() would use for this weight type and T ("avx512-bf16", "scalar", ...).
const char* matmul_path(WType type, int64_t T);

}  // namespace msa::kernels
