// UTF-8 helpers for the tokenizer: validation, the invalid-UTF-8 policy
// (every maximal invalid subpart becomes U+FFFD, as in the WHATWG/JavaScript
// TextDecoder and Python's errors="replace"), NFC normalisation, and the
// "complete prefix" length used by streaming decode.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace msa::model {

void append_utf8(std::string& out, uint32_t cp);

// Length of the well-formed UTF-8 sequence starting at s[i] (1..4), or 0 when
// s[i] starts an ill-formed sequence. Surrogates and overlongs are ill-formed.
size_t valid_utf8_sequence_length(std::string_view s, size_t i);

// Length of the maximal subpart of an ill-formed sequence at s[i] (>= 1): the
// number of bytes that one U+FFFD replaces (Unicode §3.9 "best practice").
size_t invalid_utf8_subpart_length(std::string_view s, size_t i);

bool is_valid_utf8(std::string_view s);

// Returns s with every maximal ill-formed subpart replaced by U+FFFD.
std::string sanitize_utf8(std::string_view s);

// The number of leading bytes of s that can be emitted now without splitting a
// character: a trailing incomplete-but-so-far-valid sequence is held back;
// everything else (including invalid bytes, which become U+FFFD) is emitted.
size_t complete_utf8_prefix(std::string_view s);

// Unicode NFC of valid UTF-8 text (utf8proc). Fast path: text none of whose
// code points can be changed or composed by NFC (all below U+0300, or
// starters without decomposition or composition partners, e.g. CJK, emoji)
// is returned unchanged. nfc_is_identity_fast is that conservative check.
std::string nfc(std::string_view valid_utf8);
bool nfc_is_identity_fast(std::string_view valid_utf8);

// Decodes one code point from valid UTF-8 at s[i], advancing i.
uint32_t next_code_point(std::string_view s, size_t& i);

}  // namespace msa::model
