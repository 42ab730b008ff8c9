// Runtime CPU feature detection and the kernel path ("ISA tier") in use.
//
// Three tiers, best first: avx512 (F/BW/VL/DQ + FMA + F16C; BF16 and VNNI
// flags on top), avx2 (AVX2 + FMA + F16C) and scalar (portable C++). The best
// tier the CPU has is picked at startup; the environment variable
// MSA_ISA=scalar|avx2|avx512 forces one (auto or empty: best). Forcing a tier
// the CPU lacks, or an unknown name, is an msa::Error naming the problem.
#pragma once

namespace msa {

enum class Isa { Scalar, Avx2, Avx512 };

struct CpuFeatures {
  Isa isa = Isa::Scalar;     // the tier kernels dispatch to
  bool avx2 = false;         // AVX2 + FMA + F16C usable (true under avx512 too)
  bool avx512 = false;       // F + BW + VL + DQ + FMA + F16C
  bool avx512_bf16 = false;  // vdpbf16ps
  bool avx512_vnni = false;  // vpdpbusd
};

// Features of the selected tier. Throws msa::Error on a bad MSA_ISA.
const CpuFeatures& cpu_features();

// "scalar", "avx2", "avx512".
const char* isa_name(Isa isa);
// Name of the tier in use, e.g. for `# isa_path: avx2` benchmark lines.
inline const char* isa_path() { return isa_name(cpu_features().isa); }
// Whether this CPU can run `isa` (scalar: always), ignoring MSA_ISA.
bool cpu_supports(Isa isa);
// One line naming the CPU's vector extensions, e.g. "avx2 fma f16c avx512f avx512bf16".
const char* cpu_flags_summary();

// The CPU's model name (/proc/cpuinfo "model name"), or "unknown".
const char* cpu_model_name();

// Overrides the tier (tests): returns false (and changes nothing) when the
// CPU lacks it.
bool set_isa(Isa isa);
// false forces scalar paths everywhere; true restores the MSA_ISA / best tier.
void set_simd_enabled(bool enabled);

}  // namespace msa
