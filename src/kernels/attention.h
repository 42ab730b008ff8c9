// Causal grouped-query attention over an assembled context.
//
// Query token i (0 ≤ i < Tq) sees context rows 0 .. Tk−Tq+i (the causal mask
// is aligned to the bottom-right): with a prefix of P entries (template, pooled
// memory chunks) followed by the Tq query rows, every query sees the whole
// prefix and the query rows up to itself. Decoding is Tq = 1 over the cache.
// Query head h uses KV head h / (Hq / Hkv). Scale 1/√d, softmax in f32.
#pragma once

#include <cstdint>

namespace msa::kernels {

struct AttentionShape {
  int64_t Tq = 0;   // query rows
  int64_t Tk = 0;   // context rows (Tk >= Tq when causal)
  int64_t Hq = 0;   // query heads
  int64_t Hkv = 0;  // key/value heads
  int64_t d = 0;    // head dim
};

// q: [Tq, Hq, d]; k, v: [Tk, Hkv, d]; out: [Tq, Hq, d].
// causal=false lets every query see all Tk rows.
void attention(const float* q, const float* k, const float* v, const AttentionShape& s,
               float* out, bool causal = true);

// Backward: given dout, accumulates dq (overwritten), dk and dv (accumulated, +=).
void attention_backward(const float* q, const float* k, const float* v, const AttentionShape& s,
                        const float* dout, float* dq, float* dk, float* dv, bool causal = true);

}  // namespace msa::kernels
