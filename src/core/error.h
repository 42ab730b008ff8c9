// Error handling for msa: user-facing failures (bad files, bad input, bad
// arguments) throw msa::Error with a message that names what was wrong and
// where; internal invariants use MSA_ASSERT, which aborts.
#pragma once

#include <fmt/format.h>

#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>

namespace msa {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

template <typename... Args>
[[noreturn]] void throw_error(fmt::format_string<Args...> f, Args&&... args) {
  throw Error(fmt::format(f, std::forward<Args>(args)...));
}

}  // namespace msa

#define MSA_CHECK(cond, ...)                 \
  do {                                       \
    if (!(cond)) ::msa::throw_error(__VA_ARGS__); \
  } while (0)

#define MSA_ASSERT(cond)                                                           \
  do {                                                                             \
    if (!(cond)) {                                                                 \
      std::fprintf(stderr, "msa: internal error: %s (%s:%d)\n", #cond, __FILE__, __LINE__); \
      std::abort();                                                                \
    }                                                                              \
  } while (0)
