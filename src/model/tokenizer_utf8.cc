#include "model/tokenizer_utf8.h"

#include <utf8proc.h>

#include <cstdlib>
#include <memory>

#include "core/error.h"

namespace msa::model {

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += char(cp);
  } else if (cp < 0x800) {
    out += char(0xC0 | (cp >> 6));
    out += char(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += char(0xE0 | (cp >> 12));
    out += char(0x80 | ((cp >> 6) & 0x3F));
    out += char(0x80 | (cp & 0x3F));
  } else {
    out += char(0xF0 | (cp >> 18));
    out += char(0x80 | ((cp >> 12) & 0x3F));
    out += char(0x80 | ((cp >> 6) & 0x3F));
    out += char(0x80 | (cp & 0x3F));
  }
}

// Valid second-byte range for a lead byte (Unicode Table 3-7); the remaining
// continuation bytes are always 80..BF.
static bool lead_info(unsigned char b, size_t& len, unsigned char& lo, unsigned char& hi) {
  lo = 0x80;
  hi = 0xBF;
  if (b >= 0xC2 && b <= 0xDF) len = 2;
  else if (b == 0xE0) { len = 3; lo = 0xA0; }
  else if (b >= 0xE1 && b <= 0xEC) len = 3;
  else if (b == 0xED) { len = 3; hi = 0x9F; }
  else if (b >= 0xEE && b <= 0xEF) len = 3;
  else if (b == 0xF0) { len = 4; lo = 0x90; }
  else if (b >= 0xF1 && b <= 0xF3) len = 4;
  else if (b == 0xF4) { len = 4; hi = 0x8F; }
  else return false;
  return true;
}

// Number of bytes of a (possibly truncated) valid prefix of a sequence at s[i].
static size_t valid_prefix(std::string_view s, size_t i, size_t& len) {
  unsigned char b = static_cast<unsigned char>(s[i]);
  if (b < 0x80) {
    len = 1;
    return 1;
  }
  unsigned char lo, hi;
  if (!lead_info(b, len, lo, hi)) {
    len = 0;
    return 0;
  }
  size_t k = 1;
  while (k < len && i + k < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i + k]);
    unsigned char l = k == 1 ? lo : 0x80, h = k == 1 ? hi : 0xBF;
    if (c < l || c > h) break;
    ++k;
  }
  return k;
}

size_t valid_utf8_sequence_length(std::string_view s, size_t i) {
  size_t len;
  size_t k = valid_prefix(s, i, len);
  return (len != 0 && k == len) ? len : 0;
}

size_t invalid_utf8_subpart_length(std::string_view s, size_t i) {
  size_t len;
  size_t k = valid_prefix(s, i, len);
  return k == 0 ? 1 : k;
}

bool is_valid_utf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    if (static_cast<unsigned char>(s[i]) < 0x80) {
      ++i;
      continue;
    }
    size_t n = valid_utf8_sequence_length(s, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

std::string sanitize_utf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    if (static_cast<unsigned char>(s[i]) < 0x80) {
      out += s[i++];
      continue;
    }
    size_t n = valid_utf8_sequence_length(s, i);
    if (n == 0) {
      out += "\xEF\xBF\xBD";
      i += invalid_utf8_subpart_length(s, i);
    } else {
      out.append(s.substr(i, n));
      i += n;
    }
  }
  return out;
}

size_t complete_utf8_prefix(std::string_view s) {
  // Only the last (up to 3) bytes can be an incomplete sequence.
  size_t start = s.size() >= 3 ? s.size() - 3 : 0;
  for (size_t i = s.size(); i > start;) {
    --i;
    unsigned char b = static_cast<unsigned char>(s[i]);
    if (b < 0x80) return s.size();
    if (b >= 0xC0) {  // a lead byte: is it an incomplete but valid start?
      size_t len;
      size_t k = valid_prefix(s, i, len);
      if (len != 0 && k == s.size() - i && k < len) return i;
      return s.size();
    }
  }
  return s.size();
}

// True when NFC may change text containing cp: a non-starter, a character
// with a canonical decomposition, one that takes part in a composition
// (conservatively: first or second element), or a conjoining Hangul jamo.
static bool nfc_sensitive(uint32_t cp) {
  if (cp < 0x300) return false;
  if (cp >= 0x1100 && cp <= 0x11FF) return true;
  const utf8proc_property_t* p = utf8proc_get_property(utf8proc_int32_t(cp));
  return p->combining_class != 0 || (p->decomp_seqindex != UINT16_MAX && p->decomp_type == 0) ||
         p->comb_index != UINT16_MAX;
}

bool nfc_is_identity_fast(std::string_view s) {
  // Code points < U+0300 are encoded with lead bytes < 0xCC.
  size_t i = 0;
  while (i < s.size()) {
    if (static_cast<unsigned char>(s[i]) < 0xCC) {
      ++i;
      continue;
    }
    if (nfc_sensitive(next_code_point(s, i))) return false;
  }
  return true;
}

std::string nfc(std::string_view s) {
  if (nfc_is_identity_fast(s)) return std::string(s);
  utf8proc_uint8_t* out = nullptr;
  utf8proc_ssize_t n = utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(s.data()), utf8proc_ssize_t(s.size()),
                                    &out, utf8proc_option_t(UTF8PROC_STABLE | UTF8PROC_COMPOSE));
  MSA_CHECK(n >= 0, "NFC normalisation failed: {}", utf8proc_errmsg(n));
  std::unique_ptr<utf8proc_uint8_t, decltype(&std::free)> guard(out, &std::free);
  return std::string(reinterpret_cast<const char*>(out), size_t(n));
}

uint32_t next_code_point(std::string_view s, size_t& i) {
  unsigned char b = static_cast<unsigned char>(s[i]);
  if (b < 0x80) {
    ++i;
    return b;
  }
  size_t n = b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : 2;
  if (i + n > s.size()) n = s.size() - i;
  uint32_t cp = b & (n == 2 ? 0x1F : n == 3 ? 0x0F : 0x07);
  for (size_t k = 1; k < n; ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
  i += n;
  return cp;
}

}  // namespace msa::model
