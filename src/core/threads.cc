#include "core/threads.h"

#include <omp.h>

#include <cstdlib>

namespace msa {
namespace {
int g_threads = 0;
int default_threads() {
  if (const char* s = std::getenv("MSA_THREADS")) {
    int n = std::atoi(s);
    if (n > 0) return n;
  }
  return omp_get_num_procs();
}
}  // namespace

int num_threads() {
  if (g_threads <= 0) g_threads = default_threads();
  return g_threads;
}

void set_num_threads(int n) { g_threads = n > 0 ? n : default_threads(); }

}  // namespace msa
