#include "kernels/matmul.h"

#include <omp.h>

#include <cmath>
#include <vector>

#include "core/cpu_features.h"
#include "core/half.h"
#include "core/threads.h"

namespace msa::kernels {

// Implemented in matmul_avx512.cc (compiled with AVX-512 flags); only called
// after the runtime CPU check. Returns false if it does not handle the case.
bool matmul_avx512(const float* x, int64_t T, const WeightView& w, float* y);
bool matmul_avx512_handles(WType type, int64_t T);
const char* matmul_avx512_name(WType type, int64_t T);
// matmul_avx2.cc (AVX2+FMA+F16C flags; only after the runtime check). Handles every case.
void matmul_avx2(const float* x, int64_t T, const WeightView& w, float* y);
const char* matmul_avx2_name(WType type, int64_t T);

namespace {

inline float weight_at(const WeightView& w, int64_t n, int64_t k) {
  const int64_t i = n * w.cols + k;
  switch (w.type) {
    case WType::F32: return static_cast<const float*>(w.data)[i];
    case WType::BF16: return bf16_to_f32(static_cast<const uint16_t*>(w.data)[i]);
    case WType::F16: return f16_to_f32(static_cast<const uint16_t*>(w.data)[i]);
  }
  return 0.f;
}

inline float input_at(const WeightView& w, float x) {
  return w.type == WType::BF16 ? bf16_to_f32(f32_to_bf16(x)) : x;
}

// Portable path: row-block over N in parallel, widen weights to f32 per row.
void matmul_portable(const float* x, int64_t T, const WeightView& w, float* y) {
  const int64_t N = w.rows, K = w.cols;
  std::vector<float> xr;
  const float* xs = x;
  if (w.type == WType::BF16) {  // round activations once
    xr.resize(size_t(T * K));
    for (int64_t i = 0; i < T * K; ++i) xr[size_t(i)] = input_at(w, x[i]);
    xs = xr.data();
  }
#pragma omp parallel num_threads(msa::num_threads())
  {
    std::vector<float> row(static_cast<size_t>(K));
#pragma omp for schedule(static)
    for (int64_t n = 0; n < N; ++n) {
      if (w.type == WType::F32) {
        const float* wr = static_cast<const float*>(w.data) + n * K;
        for (int64_t k = 0; k < K; ++k) row[size_t(k)] = wr[k];
      } else {
        for (int64_t k = 0; k < K; ++k) row[size_t(k)] = weight_at(w, n, k);
      }
      for (int64_t t = 0; t < T; ++t) {
        const float* xt = xs + t * K;
        float acc = 0.f;
        for (int64_t k = 0; k < K; ++k) acc += xt[k] * row[size_t(k)];
        y[t * N + n] = acc;
      }
    }
  }
}

}  // namespace

void matmul_ref(const float* x, int64_t T, const WeightView& w, float* y) {
  for (int64_t t = 0; t < T; ++t)
    for (int64_t n = 0; n < w.rows; ++n) {
      double acc = 0;
      for (int64_t k = 0; k < w.cols; ++k)
        acc += double(input_at(w, x[t * w.cols + k])) * double(weight_at(w, n, k));
      y[t * w.rows + n] = float(acc);
    }
}

void matmul(const float* x, int64_t T, const WeightView& w, float* y) {
  if (T <= 0 || w.rows == 0) return;
  const CpuFeatures& f = cpu_features();
  if (f.avx512 && matmul_avx512(x, T, w, y)) return;
  if (f.avx2) return matmul_avx2(x, T, w, y);  // also bf16 on AVX-512 CPUs without BF16
  matmul_portable(x, T, w, y);
}

const char* matmul_path(WType type, int64_t T) {
  const CpuFeatures& f = cpu_features();
  if (f.avx512 && matmul_avx512_handles(type, T)) return matmul_avx512_name(type, T);
  if (f.avx2) return matmul_avx2_name(type, T);
  return "portable";
}

}  // namespace msa::kernels
