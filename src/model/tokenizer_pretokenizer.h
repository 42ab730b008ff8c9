// Pre-tokenizers of HF tokenizer.json that byte-level BPE models use:
//   Split {pattern: {Regex|String}, behavior, invert}   (PCRE2, UTF + UCP, JIT)
//   ByteLevel {add_prefix_space, use_regex}             (GPT-2 regex when use_regex)
//   Sequence [ ... ]
// A pre-tokenizer turns one section of normalised, valid UTF-8 text into
// pieces; each piece is later byte-mapped and BPE-encoded independently.
// Thread-safe: const methods keep per-thread PCRE2 match data.
#pragma once

#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "model/tokenizer_json.h"

namespace msa::model {

// A compiled PCRE2 pattern (Oniguruma-compatible subset used by HF files).
class Regex {
 public:
  Regex(const std::string& pattern, bool literal, std::string_view what);
  ~Regex();
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;
  // Finds the next match at or after `from`; returns false when none.
  bool find(std::string_view text, size_t from, size_t& begin, size_t& end) const;

 private:
  void* code_ = nullptr;  // pcre2_code_8*
};

class PreTokenizer {
 public:
  // v may be null/JSON null (no pre-tokenization). Throws msa::Error naming
  // the unsupported type or bad field.
  explicit PreTokenizer(const JsonValue* v);
  ~PreTokenizer();

  // Appends the pieces of `text` to `out`. Pieces are views into `text` or
  // into `arena` (only when a prefix space had to be added).
  void split(std::string_view text, std::vector<std::string_view>& out, std::deque<std::string>& arena) const;

  bool has_byte_level() const { return has_byte_level_; }

 private:
  enum class Behavior { Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous };
  struct Step {
    bool is_split = false;  // else ByteLevel
    std::unique_ptr<Regex> regex;
    Behavior behavior = Behavior::Isolated;
    bool invert = false;
    bool add_prefix_space = false;
  };
  void parse_step(const JsonValue& v, std::string_view where);
  void apply_split(const Step& s, std::string_view piece, std::vector<std::string_view>& out) const;

  std::vector<Step> steps_;
  bool has_byte_level_ = false;
};

// The GPT-2 pattern ByteLevel uses when use_regex is true.
extern const char* const kGpt2SplitPattern;

}  // namespace msa::model
