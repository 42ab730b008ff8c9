// Thread-count control. Kernels parallelise with OpenMP; this is the one place
// that decides how many threads they use (MSA_THREADS or the core count).
#pragma once

namespace msa {

int num_threads();
void set_num_threads(int n);  // n <= 0: back to the default

}  // namespace msa
