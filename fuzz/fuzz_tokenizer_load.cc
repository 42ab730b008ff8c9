// libFuzzer target: tokenizer.json loading. Arbitrary bytes either load into
// a working tokenizer or throw msa::Error — never crash, hang or leak.
#include <cstdint>
#include <string>

#include "core/error.h"
#include "model/tokenizer.h"
#include "model/tokenizer_utf8.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    auto tok = msa::model::Tokenizer::from_json(std::string_view(reinterpret_cast<const char*>(data), size), "fuzz");
    for (const char* s : {"hello world", "<|im_start|>user\n", "caf\xC3\xA9 \xE4\xB8\x96 \xFF", "  \n\n x's"}) {
      for (bool special : {false, true}) {
        auto ids = tok.encode(s, special);
        for (int32_t id : ids)
          if (!tok.is_valid_id(id)) __builtin_trap();
        if (!msa::model::is_valid_utf8(tok.decode(ids))) __builtin_trap();
      }
    }
  } catch (const msa::Error&) {
  }
  return 0;
}
