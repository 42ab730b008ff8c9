// Running the real `msa` binary from product tests: shell quoting, a command's
// output and exit status, JSONL files.
#pragma once

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace msa::test_util {

inline std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// Runs `cmd` through the shell; *out receives its stdout (and stderr unless
// merge_stderr is false, then stderr is dropped). Returns the exit status
// (0-255), or -1 when it did not exit normally.
inline int run_command(const std::string& cmd, std::string* out, bool merge_stderr = true) {
  FILE* p = popen((cmd + (merge_stderr ? " 2>&1" : " 2>/dev/null")).c_str(), "r");
  if (!p) return -1;
  std::array<char, 4096> buf{};
  out->clear();
  while (size_t n = fread(buf.data(), 1, buf.size(), p)) out->append(buf.data(), n);
  const int st = pclose(p);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

inline std::vector<nlohmann::json> read_jsonl(const std::filesystem::path& p) {
  std::ifstream f(p);
  std::vector<nlohmann::json> v;
  for (std::string line; std::getline(f, line);)
    if (!line.empty()) v.push_back(nlohmann::json::parse(line));
  return v;
}

}  // namespace msa::test_util
