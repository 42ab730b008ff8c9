// ISA tier selection: MSA_ISA forces a tier, refuses unknown names and tiers
// the CPU lacks with a clear error, and `msa info` / `msa --version` print the
// tier in use. Runs the real binary for the environment-variable cases.
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <string>

#include "core/cpu_features.h"
#include "kernels/matmul.h"

namespace {

struct MsaRun {
  int status;
  std::string output;  // stdout + stderr
};

MsaRun run_msa(const std::string& env, const std::string& args) {
  const std::string cmd = env + " " + MSA_BINARY + " " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return {-1, ""};
  std::string out;
  std::array<char, 256> buf;
  while (fgets(buf.data(), int(buf.size()), p)) out += buf.data();
  const int st = pclose(p);
  return {WIFEXITED(st) ? WEXITSTATUS(st) : -1, out};
}

const msa::Isa kAll[] = {msa::Isa::Scalar, msa::Isa::Avx2, msa::Isa::Avx512};

TEST(IsaDispatch, SetIsaFollowsTheHardware) {
  for (msa::Isa isa : kAll) {
    SCOPED_TRACE(msa::isa_name(isa));
    EXPECT_EQ(msa::set_isa(isa), msa::cpu_supports(isa));
    if (!msa::cpu_supports(isa)) continue;
    EXPECT_STREQ(msa::isa_path(), msa::isa_name(isa));
    const auto& f = msa::cpu_features();
    EXPECT_EQ(f.avx2, isa != msa::Isa::Scalar);
    EXPECT_EQ(f.avx512, isa == msa::Isa::Avx512);
    const std::string path = msa::kernels::matmul_path(msa::kernels::WType::F32, 1);
    if (isa == msa::Isa::Scalar) EXPECT_EQ(path, "portable");
    else EXPECT_EQ(path.rfind(std::string(msa::isa_name(isa)) + "-", 0), 0u) << path;
  }
  msa::set_simd_enabled(true);
  EXPECT_TRUE(msa::cpu_supports(msa::Isa::Scalar));
}

TEST(IsaDispatch, InfoPrintsTheForcedPath) {
  for (msa::Isa isa : kAll) {
    if (!msa::cpu_supports(isa)) continue;
    const MsaRun r = run_msa(std::string("MSA_ISA=") + msa::isa_name(isa), "info");
    EXPECT_EQ(r.status, 0) << r.output;
    EXPECT_NE(r.output.find(std::string("isa_path: ") + msa::isa_name(isa) + "\n"), std::string::npos) << r.output;
    const MsaRun v = run_msa(std::string("MSA_ISA=") + msa::isa_name(isa), "--version");
    EXPECT_EQ(v.status, 0) << v.output;
    EXPECT_NE(v.output.find(std::string("isa_path: ") + msa::isa_name(isa)), std::string::npos) << v.output;
  }
  // Unset / auto: the best tier.
  const MsaRun r = run_msa("MSA_ISA=auto", "info");
  EXPECT_NE(r.output.find(std::string("isa_path: ") +
                          msa::isa_name(msa::cpu_supports(msa::Isa::Avx512) ? msa::Isa::Avx512
                                        : msa::cpu_supports(msa::Isa::Avx2) ? msa::Isa::Avx2
                                                                             : msa::Isa::Scalar)),
            std::string::npos)
      << r.output;
}

TEST(IsaDispatch, UnknownNameIsRefused) {
  const MsaRun r = run_msa("MSA_ISA=sse9", "info");
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find("MSA_ISA=sse9 is not a known path"), std::string::npos) << r.output;
}

TEST(IsaDispatch, MissingTierIsRefused) {
  bool any = false;
  for (msa::Isa isa : kAll) {
    if (msa::cpu_supports(isa)) continue;
    any = true;
    const MsaRun r = run_msa(std::string("MSA_ISA=") + msa::isa_name(isa), "info");
    EXPECT_EQ(r.status, 1) << r.output;
    EXPECT_NE(r.output.find("this CPU lacks"), std::string::npos) << r.output;
  }
  if (!any) GTEST_SKIP() << "this CPU has every tier (" << msa::cpu_flags_summary() << "); nothing to refuse";
}

}  // namespace
