// The source tree for benchmarks that need files from it: $MSA_SOURCE_DIR, the
// working directory, or a parent of the executable — the first that holds `marker`.
#pragma once

#include <filesystem>
#include <string>

namespace msa::bench {

std::filesystem::path source_root(const std::string& marker);

}  // namespace msa::bench
