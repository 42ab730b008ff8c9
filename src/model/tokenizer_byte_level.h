// GPT-2 "ByteLevel" alphabet: every byte 0..255 is mapped to a printable
// Unicode character so that BPE vocabularies are plain strings. Printable
// Latin-1 bytes map to themselves; the others to U+0100.. in order.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace msa::model {

class ByteLevelAlphabet {
 public:
  static const ByteLevelAlphabet& get();

  // UTF-8 of the character representing byte b.
  const std::string& char_of(uint8_t b) const { return chars_[b]; }
  // Byte for a code point, or -1 when the code point is not in the alphabet.
  int byte_of(uint32_t cp) const { return cp < byte_of_cp_.size() ? byte_of_cp_[cp] : -1; }

  // Maps raw bytes to their byte-level string ("Hello world" -> "HelloĠworld").
  std::string encode(std::string_view bytes) const;
  // Inverse of encode; returns false (out untouched past its old size) when a
  // character of token is not in the alphabet.
  bool decode(std::string_view token, std::string& out) const;

 private:
  ByteLevelAlphabet();
  std::array<std::string, 256> chars_;
  std::array<int16_t, 0x144> byte_of_cp_;  // alphabet code points are < U+0144
};

}  // namespace msa::model
