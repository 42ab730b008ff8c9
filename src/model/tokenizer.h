// Qwen2/Qwen3-style byte-level BPE tokenizer loaded from a HuggingFace
// tokenizer.json (see docs/tokenizer.md). Pipeline of encode():
//   invalid UTF-8 -> U+FFFD, split out added tokens (lstrip/rstrip/single_word),
//   NFC (normalizer), added tokens marked "normalized", pre-tokenizer
//   (Split regex / ByteLevel), byte-level BPE with merge ranks (cached).
// No special tokens are ever *added* (Qwen adds none); `parse_special`
// decides whether the text of special added tokens is recognised.
// All const methods are thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace msa::model {

class BpeModel;
class PreTokenizer;
class JsonValue;

struct AddedToken {
  int32_t id = -1;
  std::string content;
  bool special = false;
  bool normalized = false;  // matched on NFC-normalised text rather than raw text
  bool lstrip = false;      // absorbs whitespace on its left
  bool rstrip = false;      // absorbs whitespace on its right
  bool single_word = false; // only matches when not inside a word
};

class Tokenizer {
 public:
  // Loads tokenizer.json; throws msa::Error naming the file and the bad key.
  static Tokenizer load(const std::string& path);
  // Same, from the JSON text (`source` names it in errors).
  static Tokenizer from_json(std::string_view json_text, std::string_view source);

  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;
  ~Tokenizer();

  // parse_special = true: text of special added tokens ("<|im_start|>") is
  // encoded as that token (HF encode default). false: special-token text is
  // ordinary text (safe for user input); non-special added tokens still match,
  // as in HF with split_special_tokens=True.
  std::vector<int32_t> encode(std::string_view text, bool parse_special = true) const;
  void encode_append(std::string_view text, bool parse_special, std::vector<int32_t>& out) const;
  // Like encode(text, true), but the text of a special added token is
  // recognised only where it lies wholly inside one of `special_spans` (byte
  // ranges of `text`, sorted, not overlapping): the places where a prompt
  // builder or the model put special tokens. Anywhere else (user questions,
  // document text) it is ordinary text, as with parse_special = false. Where no
  // special-token text lies outside the spans, the ids equal encode(text, true).
  // `text` must be valid UTF-8 (spans are byte offsets into it).
  struct ByteSpan {
    size_t begin = 0, end = 0;
  };
  std::vector<int32_t> encode_with_special_spans(std::string_view text, std::span<const ByteSpan> special_spans) const;

  // Concatenated bytes of the tokens as UTF-8; ill-formed sequences become
  // U+FFFD. Ids that are not tokens are skipped (HF behaviour).
  std::string decode(std::span<const int32_t> ids, bool skip_special = false) const;
  // Raw bytes of one token (may be part of a UTF-8 character); empty when unknown.
  std::string_view token_bytes(int32_t id) const;

  int32_t token_to_id(std::string_view token) const;  // added token content or vocab string; -1 if none
  int32_t require_token(std::string_view token) const;  // throws msa::Error when absent
  bool is_special(int32_t id) const;
  bool is_valid_id(int32_t id) const { return id >= 0 && size_t(id) < known_.size() && known_[size_t(id)]; }
  size_t vocab_size() const { return known_.size(); }  // max id + 1
  const std::vector<AddedToken>& added_tokens() const { return added_; }

 private:
  Tokenizer();
  void load_from(const JsonValue& root, std::string_view source);
  struct Segment;
  void split_added(std::string_view text, bool normalized_pass, bool parse_special,
                   std::vector<Segment>& out, std::span<const ByteSpan> const* special_spans = nullptr) const;
  void encode_segments(std::string_view text, bool parse_special, std::span<const ByteSpan> const* special_spans,
                       std::vector<int32_t>& out) const;
  void encode_text(std::string_view text, std::vector<int32_t>& out) const;

  std::unique_ptr<BpeModel> bpe_;
  std::unique_ptr<PreTokenizer> pre_;
  bool nfc_ = false;
  std::vector<AddedToken> added_;
  bool any_normalized_added_ = false;
  // Candidate added tokens by first byte, longest first (leftmost-longest match).
  std::vector<std::vector<uint16_t>> added_by_first_byte_;
  std::string decoded_buf_;             // bytes of every id, concatenated
  std::vector<uint32_t> decoded_off_;   // id -> offset in decoded_buf_ (size max id + 2)
  std::vector<bool> known_;
  std::vector<bool> special_;
};

// Incremental detokenizer for generation: push ids one at a time and get back
// only text that is complete — a UTF-8 character split across tokens is held
// until its last byte arrives, so the output never contains half a character.
class StreamDecoder {
 public:
  explicit StreamDecoder(const Tokenizer& tok, bool skip_special = false) : tok_(tok), skip_special_(skip_special) {}
  std::string push(int32_t id);
  // Emits what is still held (an incomplete trailing sequence becomes U+FFFD).
  std::string flush();

 private:
  const Tokenizer& tok_;
  bool skip_special_;
  std::string pending_;
};

}  // namespace msa::model
