// libFuzzer target: safetensors header/data parsing must either succeed with
// in-bounds tensors or throw msa::Error — never crash or read out of bounds.
// An accepted tensor's byte count must equal numel x dtype size computed
// without wrap-around (issue 18: [2^31, 2^31] F32 with data_offsets [0, 0]
// was accepted; seeds fuzz/corpus/safetensors/overflow_*.bin).
#include <cstdint>
#include <cstring>
#include <vector>

#include "core/error.h"
#include "model/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // Copy so ASan sees the exact buffer bounds.
  std::vector<uint8_t> buf(data, data + size);
  try {
    auto tensors = msa::model::parse_safetensors(buf.data(), buf.size(), "fuzz");
    for (auto& [name, t] : tensors) {
      unsigned __int128 bytes = msa::dtype_size(t.dtype);
      for (int64_t d : t.shape) bytes *= (unsigned __int128)uint64_t(d);
      if (bytes != t.nbytes) __builtin_trap();  // a wrapped size check let this tensor through
      // Touch every byte the parser claims is valid.
      volatile uint8_t sink = 0;
      for (size_t i = 0; i < t.nbytes; ++i) sink ^= t.data[i];
      (void)sink;
    }
  } catch (const msa::Error&) {
  }
  return 0;
}
