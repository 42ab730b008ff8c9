// SwiGLU gate: out = SiLU(gate) ⊙ up, SiLU(z) = z · σ(z).
#pragma once

#include <cstdint>

namespace msa::kernels {

void swiglu(const float* gate, const float* up, int64_t n, float* out);
void swiglu_backward(const float* gate, const float* up, const float* dout, int64_t n,
                     float* dgate, float* dup);

}  // namespace msa::kernels
