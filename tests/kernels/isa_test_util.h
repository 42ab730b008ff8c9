// Test helpers for the ISA tiers: parametrise a suite over msa::Isa, force the
// tier in SetUp, and skip (with the reason printed) a tier this CPU lacks.
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "core/cpu_features.h"

namespace msa::test {

// Why a tier is skipped:  if (!set_isa(isa)) GTEST_SKIP() << lacks(isa);
inline std::string lacks(Isa isa) {
  return "this CPU lacks the " + std::string(isa_name(isa)) + " path (it has: " + cpu_flags_summary() + ")";
}

// Fixture base: forces the parameter's tier for each test, restores MSA_ISA / best after.
class IsaTest : public ::testing::TestWithParam<Isa> {
 protected:
  void SetUp() override {
    if (!set_isa(GetParam())) GTEST_SKIP() << lacks(GetParam());
  }
  void TearDown() override { set_simd_enabled(true); }
};

inline std::string isa_param_name(const ::testing::TestParamInfo<Isa>& info) { return isa_name(info.param); }

// The SIMD tiers (each fast path is compared with the scalar reference under each).
#define MSA_SIMD_ISAS ::testing::Values(::msa::Isa::Avx2, ::msa::Isa::Avx512)

}  // namespace msa::test
