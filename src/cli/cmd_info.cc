// msa info: the build and the machine as the kernels see them — version, the
// ISA tier in use (MSA_ISA or the best the CPU has), the CPU and its vector
// extensions, threads, and the kernel each hot path dispatches to.
#include <CLI/CLI.hpp>
#include <cstdio>

#include "cli/command.h"
#include "core/cpu_features.h"
#include "core/threads.h"
#include "core/version.h"
#include "kernels/matmul.h"
#include "kernels/routing_scan.h"

namespace {

int run_info(int argc, char** argv) {
  CLI::App app{"Print the version, CPU and the kernel path (ISA tier) in use"};
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  using namespace msa::kernels;
  const char* isa = msa::isa_path();  // throws msa::Error on a bad MSA_ISA
  std::printf("msa %s\n", msa::kVersion);
  std::printf("isa_path: %s\n", isa);
  std::printf("cpu: %s\n", msa::cpu_model_name());
  std::printf("cpu_flags: %s\n", msa::cpu_flags_summary());
  std::printf("threads: %d\n", msa::num_threads());
  for (WType t : {WType::BF16, WType::F16, WType::F32}) {
    const char* name = t == WType::BF16 ? "bf16" : t == WType::F16 ? "f16" : "f32";
    std::printf("matmul_%s: %s, %s\n", name, matmul_path(t, 1), matmul_path(t, 512));
  }
  for (ScanType t : {ScanType::BF16, ScanType::Int8, ScanType::F32})
    std::printf("routing_scan_%s: %s\n", scan_type_name(t), routing_scan_path(t));
  return 0;
}

}  // namespace

MSA_COMMAND("info", "print version, CPU and the kernel path (ISA tier) in use", run_info);
