// Shared by the memory-parallel tests: mpirun detection and command prefix,
// and the small two-namespace corpus every sharded-bank test splits.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

namespace msa::test_util {

inline bool have_mpirun() { return std::system("command -v mpirun >/dev/null 2>&1") == 0; }

// `mpirun -np N ... msa` on loopback; as root OpenMPI needs --allow-run-as-root,
// and 3 ranks on 2 cores need --oversubscribe. Under the sanitizer build,
// OpenMPI's own runtime (dlopen'd plugins, unsymbolizable at exit) leaks by
// design: no leak check in the ranks.
inline std::string mpirun_msa(int np) {
  return "mpirun -np " + std::to_string(np) + " --allow-run-as-root --oversubscribe " +
         "--mca btl self,tcp --mca btl_tcp_if_include lo -x ASAN_OPTIONS=detect_leaks=0 " + MSA_BINARY;
}

// 14 documents in two namespaces ("team-a": every third), external ids doc-0..13,
// so every shard of 2 or 3 holds some of each.
inline void write_mp_corpus(const std::filesystem::path& file) {
  std::ofstream f(file);
  const char* words[] = {"apple", "river", "stone", "cloud", "forest", "copper", "violet"};
  for (int i = 0; i < 14; ++i)
    f << nlohmann::json{{"text", std::string("Document ") + std::to_string(i) + " talks about the " + words[i % 7] +
                                     " and the " + words[(i * 3) % 7] + " near the " + words[(i + 2) % 7] + "."},
                        {"id", "doc-" + std::to_string(i)},
                        {"namespace", i % 3 == 0 ? "team-a" : "public"}}
             .dump()
      << "\n";
}

}  // namespace msa::test_util
