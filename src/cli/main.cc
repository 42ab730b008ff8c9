// msa command-line entry point: dispatches to registered sub-commands
// (see command.h). User errors (msa::Error) print one clear line, exit 1.
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>

#include "cli/command.h"
#include "core/allocator.h"
#include "core/cpu_features.h"
#include "core/error.h"
#include "core/version.h"

namespace msa::cli {
std::map<std::string, Command>& commands() {
  static std::map<std::string, Command> m;
  return m;
}
}  // namespace msa::cli

static void usage(FILE* out) {
  std::fprintf(out, "msa %s — Memory Sparse Attention engine\n\nusage: msa <command> [options]\n\ncommands:\n",
               msa::kVersion);
  for (auto& [name, c] : msa::cli::commands()) std::fprintf(out, "  %-14s %s\n", name.c_str(), c.help.c_str());
  std::fprintf(out, "\nRun 'msa <command> --help' for a command's options.\n");
}

int main(int argc, char** argv) {
  msa::configure_allocator();
  if (argc < 2) {
    usage(stderr);
    return 2;
  }
  const std::string name = argv[1];
  if (name == "--help" || name == "-h" || name == "help") {
    usage(stdout);
    return 0;
  }
  if (name == "--version") {
    try {
      std::printf("msa %s (isa_path: %s)\n", msa::kVersion, msa::isa_path());
    } catch (const msa::Error& e) {  // a bad MSA_ISA
      std::fprintf(stderr, "msa: error: %s\n", e.what());
      return 1;
    }
    return 0;
  }
  auto& cmds = msa::cli::commands();
  auto it = cmds.find(name);
  if (it == cmds.end()) {
    std::fprintf(stderr, "msa: unknown command '%s' (see 'msa --help')\n", name.c_str());
    return 2;
  }
  try {
    msa::cpu_features();  // a bad MSA_ISA fails here, before any work, with its own message
    return it->second.fn(argc - 1, argv + 1);
  } catch (const msa::Error& e) {
    std::fprintf(stderr, "msa %s: error: %s\n", name.c_str(), e.what());
    return 1;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "msa %s: error: out of memory\n", name.c_str());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "msa %s: error: %s\n", name.c_str(), e.what());
    return 1;
  }
}
