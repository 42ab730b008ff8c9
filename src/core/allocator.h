// Process-wide heap settings for the msa programs.
#pragma once

namespace msa {

// glibc raises its mmap threshold each time a large block is freed, so the
// per-batch activation buffers of document encoding (MBs, allocated and freed
// every batch) end up on the brk heap, interleaved with the small per-document
// results that live on; the heap then fragments and grows ~30x beyond the
// live data (an eval over 7M memory tokens was OOM-killed at 24 GB; with a
// fixed threshold it needs ~1 GB). Fixing the threshold keeps large blocks in
// mmap, returned to the OS on free. Call once at the start of main().
void configure_allocator();

}  // namespace msa
