// Rotary position embedding, "rotate-half" convention (HF Llama/Qwen3):
// x_rot = x ⊙ cos + rotate_half(x) ⊙ sin, rotate_half([a, b]) = [−b, a],
// inv_freq[i] = theta^(−2i/d), angle = position · inv_freq in f32.
#pragma once

#include <cstdint>

namespace msa::kernels {

// x: [T, heads, d] (row stride heads*d), rotated in place at per-token positions.
void rope_apply(float* x, int64_t T, int64_t heads, int64_t d, const int32_t* positions,
                float theta);

// Backward (the rotation is orthogonal: apply the inverse rotation to the gradient).
void rope_backward(float* dx, int64_t T, int64_t heads, int64_t d, const int32_t* positions,
                   float theta);

}  // namespace msa::kernels
