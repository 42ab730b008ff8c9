// libFuzzer target: safetensors header/data parsing must either succeed with
// in-bounds tensors or throw msa::Error — never crash or read out of bounds.
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
      // Touch every byte the parser claims is valid.
      volatile uint8_t sink = 0;
      for (size_t i = 0; i < t.nbytes; ++i) sink ^= t.data[i];
      (void)sink;
    }
  } catch (const msa::Error&) {
  }
  return 0;
}
