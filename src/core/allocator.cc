#include "core/allocator.h"

#include <cstdlib>  // defines __GLIBC__ on glibc systems

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace msa {

void configure_allocator() {
#if defined(__GLIBC__)
  // Setting the threshold explicitly also turns off glibc's dynamic adjustment.
  mallopt(M_MMAP_THRESHOLD, 256 * 1024);
#endif
}

}  // namespace msa
