// libFuzzer target: config.json parsing (Qwen3 keys + msa_config) either yields
// a consistent config or throws msa::Error.
#include <cstdint>
#include <string>

#include "core/error.h"
#include "model/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    auto c = msa::model::parse_model_config(std::string(reinterpret_cast<const char*>(data), size), "fuzz");
    (void)c.routing_score_rule();
    for (int l : c.msa.routing_layers)
      if (l < 0 || l >= c.num_hidden_layers) __builtin_trap();
  } catch (const msa::Error&) {
  }
  return 0;
}
