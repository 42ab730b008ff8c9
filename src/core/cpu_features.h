// Runtime CPU feature detection for kernel dispatch. The environment variable
// MSA_ISA=scalar forces the portable paths (used by tests to exercise them).
#pragma once

namespace msa {

struct CpuFeatures {
  bool avx512 = false;       // F + BW + VL + DQ + FMA + F16C
  bool avx512_bf16 = false;  // vdpbf16ps
  bool avx512_vnni = false;  // vpdpbusd
};

const CpuFeatures& cpu_features();

// Overrides detection (tests): false forces scalar paths everywhere.
void set_simd_enabled(bool enabled);

}  // namespace msa
