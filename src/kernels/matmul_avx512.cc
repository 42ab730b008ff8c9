// AVX-512 matmul paths (compiled with -mavx512*; entered only after the runtime check).
#include "kernels/matmul.h"

namespace msa::kernels {

bool matmul_avx512_handles(WType type, int64_t T) { return false; }
const char* matmul_avx512_name(WType type, int64_t T) { return "portable"; }
bool matmul_avx512(const float* x, int64_t T, const WeightView& w, float* y) { return false; }

}  // namespace msa::kernels
