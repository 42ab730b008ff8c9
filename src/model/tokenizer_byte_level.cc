#include "model/tokenizer_byte_level.h"

#include "model/tokenizer_utf8.h"

namespace msa::model {

const ByteLevelAlphabet& ByteLevelAlphabet::get() {
  static const ByteLevelAlphabet alphabet;
  return alphabet;
}

ByteLevelAlphabet::ByteLevelAlphabet() {
  byte_of_cp_.fill(-1);
  uint32_t next = 256;
  for (int b = 0; b < 256; ++b) {
    bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    uint32_t cp = printable ? uint32_t(b) : next++;
    append_utf8(chars_[size_t(b)], cp);
    byte_of_cp_[cp] = int16_t(b);
  }
}

std::string ByteLevelAlphabet::encode(std::string_view bytes) const {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (char c : bytes) out += chars_[static_cast<uint8_t>(c)];
  return out;
}

bool ByteLevelAlphabet::decode(std::string_view token, std::string& out) const {
  size_t old = out.size();
  size_t i = 0;
  while (i < token.size()) {
    if (valid_utf8_sequence_length(token, i) == 0) {
      out.resize(old);
      return false;
    }
    int b = byte_of(next_code_point(token, i));
    if (b < 0) {
      out.resize(old);
      return false;
    }
    out += char(b);
  }
  return true;
}

}  // namespace msa::model
