#include "model/default_model.h"

#include <cstdlib>
#include <string>
#include <system_error>
#include <vector>

#include "core/error.h"

#ifndef MSA_SOURCE_DIR
#define MSA_SOURCE_DIR ""
#endif

namespace msa::model {
namespace fs = std::filesystem;

fs::path default_model_dir() {
  std::vector<fs::path> candidates;
  if (const char* env = std::getenv("MSA_MODEL"); env && *env) candidates.emplace_back(env);
  if (std::string(MSA_SOURCE_DIR).size()) candidates.emplace_back(fs::path(MSA_SOURCE_DIR) / "models" / "msa-tiny");
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) candidates.push_back(exe.parent_path().parent_path() / "share" / "msa" / "models" / "msa-tiny");
  std::string looked;
  for (const auto& c : candidates) {
    if (fs::exists(c / "config.json", ec)) return c;
    looked += "\n  " + c.string();
  }
  throw_error("no model given and the embedded default model was not found; looked in:{}\n"
              "pass --model DIR or set MSA_MODEL", looked);
}

fs::path resolve_model_dir(const fs::path& given) {
  return given.empty() ? default_model_dir() : given;
}

}  // namespace msa::model
