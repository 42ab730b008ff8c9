// msa conformance <set-dir> --out <file.safetensors>
#include <CLI/CLI.hpp>
#include <cstdio>

#include "cli/command.h"
#include "core/timer.h"
#include "engine/conformance.h"

namespace {

int run(int argc, char** argv) {
  CLI::App app{"Run a golden conformance set through the engine and write every tensor its "
               "expected.json names (computed, never copied)."};
  std::string set_dir, out;
  app.add_option("set-dir", set_dir, "golden set directory (config.json, model.safetensors, inputs.json, expected.json)")
      ->required();
  app.add_option("--out,-o", out, "output safetensors file")->required();
  std::string memory = "in-memory-f32";
  app.add_option("--memory", memory,
                 "memory path: in-memory-f32 (the reference's, every tensor) | bank-bf16 | bank-int8 (a persistent "
                 "bank as ask/serve use: routing and logits tensors only)");
  CLI11_PARSE(app, argc, argv);
  msa::Timer t;
  msa::engine::ConformanceOptions co;
  co.memory = msa::engine::parse_conformance_memory(memory);
  auto res = msa::engine::run_conformance(set_dir, co);
  msa::engine::write_conformance_output(res, out);
  for (auto& line : res.log) std::printf("%s\n", line.c_str());
  std::printf("wrote %zu tensors to %s (%.2f s)\n", res.tensors.size(), out.c_str(), t.seconds());
  return 0;
}

}  // namespace

MSA_COMMAND("conformance", "run a golden conformance set and write the engine's tensors", run);
