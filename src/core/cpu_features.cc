#include "core/cpu_features.h"

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>

#include "core/error.h"

#if defined(__x86_64__)
#include <cpuid.h>
#endif

namespace msa {
namespace {

// What the hardware has, independent of MSA_ISA.
struct Hardware {
  bool avx2 = false, avx512 = false, avx512_bf16 = false, avx512_vnni = false;
  bool fma = false, f16c = false;
};

Hardware probe() {
  Hardware h;
#if defined(__x86_64__)
  __builtin_cpu_init();
  unsigned a1 = 0, b1 = 0, c1 = 0, d1 = 0;
  h.f16c = __get_cpuid(1, &a1, &b1, &c1, &d1) && (c1 & (1u << 29));
  h.fma = __builtin_cpu_supports("fma");
  // __builtin_cpu_supports also checks that the OS saves the YMM/ZMM state (XGETBV).
  h.avx2 = __builtin_cpu_supports("avx2") && h.fma && h.f16c;
  h.avx512 = h.avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
  // AVX512_BF16 is CPUID leaf 7 sub-leaf 1, EAX bit 5 (not every compiler's
  // __builtin_cpu_supports knows it).
  unsigned a = 0, b = 0, c = 0, d = 0;
  const bool bf16 = __get_cpuid_count(7, 1, &a, &b, &c, &d) && (a & (1u << 5));
  h.avx512_bf16 = h.avx512 && bf16;
  h.avx512_vnni = h.avx512 && __builtin_cpu_supports("avx512vnni");
#endif
  return h;
}

const Hardware& hardware() {
  static const Hardware h = probe();
  return h;
}

CpuFeatures features_for(Isa isa) {
  const Hardware& h = hardware();
  CpuFeatures f;
  f.isa = isa;
  if (isa == Isa::Scalar) return f;
  f.avx2 = h.avx2;
  if (isa == Isa::Avx2) return f;
  f.avx512 = h.avx512;
  f.avx512_bf16 = h.avx512_bf16;
  f.avx512_vnni = h.avx512_vnni;
  return f;
}

Isa best_isa() {
  const Hardware& h = hardware();
  return h.avx512 ? Isa::Avx512 : h.avx2 ? Isa::Avx2 : Isa::Scalar;
}

// MSA_ISA, validated against the hardware.
Isa requested_isa() {
  const char* env = std::getenv("MSA_ISA");
  if (!env || !*env || std::strcmp(env, "auto") == 0) return best_isa();
  for (Isa isa : {Isa::Scalar, Isa::Avx2, Isa::Avx512}) {
    if (std::strcmp(env, isa_name(isa)) != 0) continue;
    MSA_CHECK(cpu_supports(isa), "MSA_ISA={} but this CPU lacks {} (it has: {}); use MSA_ISA={} or unset it",
              env, isa == Isa::Avx2 ? "AVX2+FMA+F16C" : "AVX-512 F/BW/VL/DQ", cpu_flags_summary(),
              isa_name(best_isa()));
    return isa;
  }
  throw_error("MSA_ISA={} is not a known path (scalar, avx2, avx512 or auto)", env);
}

CpuFeatures& mutable_features() {
  static CpuFeatures f = features_for(requested_isa());
  return f;
}

}  // namespace

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::Scalar: return "scalar";
    case Isa::Avx2: return "avx2";
    case Isa::Avx512: return "avx512";
  }
  return "?";
}

bool cpu_supports(Isa isa) {
  switch (isa) {
    case Isa::Scalar: return true;
    case Isa::Avx2: return hardware().avx2;
    case Isa::Avx512: return hardware().avx512;
  }
  return false;
}

const char* cpu_flags_summary() {
  static const std::string s = [] {
    const Hardware& h = hardware();
    std::string r;
    auto add = [&](bool on, const char* name) {
      if (!on) return;
      if (!r.empty()) r += ' ';
      r += name;
    };
#if defined(__x86_64__)
    add(__builtin_cpu_supports("avx2"), "avx2");
#endif
    add(h.fma, "fma");
    add(h.f16c, "f16c");
    add(h.avx512, "avx512f/bw/vl/dq");
    add(h.avx512_bf16, "avx512bf16");
    add(h.avx512_vnni, "avx512vnni");
    return r.empty() ? std::string("no vector extensions msa uses") : r;
  }();
  return s.c_str();
}

const char* cpu_model_name() {
  static const std::string name = [] {
    std::ifstream in("/proc/cpuinfo");
    std::string line;
    while (std::getline(in, line)) {
      if (line.rfind("model name", 0) != 0) continue;
      const size_t colon = line.find(':');
      if (colon != std::string::npos) return line.substr(line.find_first_not_of(" \t", colon + 1));
    }
    return std::string("unknown");
  }();
  return name.c_str();
}

const CpuFeatures& cpu_features() { return mutable_features(); }

bool set_isa(Isa isa) {
  if (!cpu_supports(isa)) return false;
  mutable_features() = features_for(isa);
  return true;
}

void set_simd_enabled(bool enabled) {
  mutable_features() = features_for(enabled ? requested_isa() : Isa::Scalar);
}

}  // namespace msa
