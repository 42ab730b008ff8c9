// libFuzzer target: encode arbitrary bytes (including invalid UTF-8) with a
// small byte-level BPE tokenizer. First byte: bit 0 = parse special tokens,
// bit 1 = tokenizer with lstrip/rstrip/single_word/normalized added tokens.
// Checks: ids are valid; without stripping tokens decode(encode(s)) equals
// NFC(sanitized s); streaming decode equals decode.
#include <cstdint>
#include <string>

#include "core/error.h"
#include "model/tokenizer.h"
#include "model/tokenizer_utf8.h"
#include "tokenizer_fuzz_common.h"

using namespace msa::model;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const Tokenizer plain = Tokenizer::from_json(fuzz_tiny_tokenizer_json(false), "fuzz-plain");
  static const Tokenizer strip = Tokenizer::from_json(fuzz_tiny_tokenizer_json(true), "fuzz-strip");
  if (size == 0) return 0;
  const bool special = data[0] & 1;
  const Tokenizer& tok = (data[0] & 2) ? strip : plain;
  std::string text(reinterpret_cast<const char*>(data + 1), size - 1);
  std::vector<int32_t> ids = tok.encode(text, special);
  for (int32_t id : ids)
    if (!tok.is_valid_id(id)) __builtin_trap();
  std::string decoded = tok.decode(ids);
  if (!is_valid_utf8(decoded)) __builtin_trap();
  if (&tok == &plain && decoded != nfc(sanitize_utf8(text))) __builtin_trap();
  StreamDecoder stream(tok);
  std::string streamed;
  for (int32_t id : ids) {
    std::string piece = stream.push(id);
    if (!is_valid_utf8(piece)) __builtin_trap();
    streamed += piece;
  }
  streamed += stream.flush();
  if (streamed != decoded) __builtin_trap();
  return 0;
}
