// msa command-line entry point: dispatches to sub-commands.
#include <cstdio>
#include <string>

#include "core/error.h"
#include "core/version.h"

int main(int argc, char** argv) {
  if (argc < 2 || std::string(argv[1]) == "--help") {
    std::printf("msa %s\nusage: msa <command> [options]\n", msa::kVersion);
    return argc < 2 ? 1 : 0;
  }
  std::fprintf(stderr, "msa: unknown command '%s'\n", argv[1]);
  return 2;
}
