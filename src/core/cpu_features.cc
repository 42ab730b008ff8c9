#include "core/cpu_features.h"

#include <cstdlib>
#include <cstring>

#if defined(__x86_64__)
#include <cpuid.h>
#endif

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
             __builtin_cpu_supports("fma");
  unsigned a1 = 0, b1 = 0, c1 = 0, d1 = 0;
  f.avx512 = f.avx512 && __get_cpuid(1, &a1, &b1, &c1, &d1) && (c1 & (1u << 29));  // F16C
  // AVX512_BF16 is CPUID leaf 7 sub-leaf 1, EAX bit 5 (not every compiler's
  // __builtin_cpu_supports knows it).
  unsigned a = 0, b = 0, c = 0, d = 0;
  const bool bf16 = __get_cpuid_count(7, 1, &a, &b, &c, &d) && (a & (1u << 5));
  f.avx512_bf16 = f.avx512 && bf16;
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
