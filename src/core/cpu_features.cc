#include "core/cpu_features.h"

#include <cstdlib>
#include <cstring>

namespace msa {
namespace {

CpuFeatures detect() {
  CpuFeatures f;
  const char* isa = std::getenv("MSA_ISA");
  if (isa && std::strcmp(isa, "scalar") == 0) return f;
#if defined(__x86_64__)
  __builtin_cpu_init();
  f.avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
             __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
  f.avx512_bf16 = f.avx512 && __builtin_cpu_supports("avx512bf16");
  f.avx512_vnni = f.avx512 && __builtin_cpu_supports("avx512vnni");
#endif
  return f;
}

CpuFeatures& mutable_features() {
  static CpuFeatures f = detect();
  return f;
}

}  // namespace

const CpuFeatures& cpu_features() { return mutable_features(); }

void set_simd_enabled(bool enabled) {
  mutable_features() = enabled ? detect() : CpuFeatures{};
}

}  // namespace msa
