// A small, fast JSON reader for tokenizer.json (11 MB, 151k vocab + 151k merges
// must load in well under 150 ms) and for the JSONL lines of `msa tokenize`.
// It builds a plain DOM; errors throw msa::Error naming the line and column.
// String escapes: "\uD800"-style lone surrogates become U+FFFD (this is what a
// JavaScript TextEncoder does with the same string), raw invalid UTF-8 inside
// strings is kept byte-for-byte (the tokenizer sanitises later).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace msa::model {

class JsonValue {
 public:
  // Raw: the unparsed JSON text of a value whose path was requested raw from
  // parse_json (the 151k-entry vocab and merges are streamed, not DOM-built).
  enum class Type { Null, Bool, Number, String, Array, Object, Raw };

  JsonValue() = default;
  Type type() const { return type_; }
  bool is_null() const { return type_ == Type::Null; }
  bool is_bool() const { return type_ == Type::Bool; }
  bool is_number() const { return type_ == Type::Number; }
  bool is_string() const { return type_ == Type::String; }
  bool is_array() const { return type_ == Type::Array; }
  bool is_object() const { return type_ == Type::Object; }

  // Typed accessors throw msa::Error("<what>: expected <type>") on mismatch.
  bool as_bool(std::string_view what) const;
  double as_number(std::string_view what) const;
  int64_t as_int(std::string_view what) const;  // must be integral
  const std::string& as_string(std::string_view what) const;
  // For Type::Raw: a view into the text given to parse_json (valid while it lives).
  std::string_view raw_text() const { return raw_; }
  const std::vector<JsonValue>& as_array(std::string_view what) const;
  const std::vector<std::pair<std::string, JsonValue>>& as_object(std::string_view what) const;

  // Object member lookup (linear; objects here are small except the vocab,
  // which callers iterate). Returns nullptr when absent or not an object.
  const JsonValue* find(std::string_view key) const;

  static const char* type_name(Type t);

 private:
  friend class JsonCursor;
  Type type_ = Type::Null;
  bool bool_ = false;
  double number_ = 0;
  std::string string_;
  std::string_view raw_;
  std::vector<JsonValue> array_;
  std::vector<std::pair<std::string, JsonValue>> object_;
};

// Parses exactly one JSON document (surrounding whitespace allowed).
// `source` names the input in error messages (e.g. a file path or "line 3").
// Values at the dotted paths in raw_paths (e.g. "model.vocab") are not parsed
// but returned as Type::Raw holding their JSON text.
JsonValue parse_json(std::string_view text, std::string_view source,
                     const std::vector<std::string_view>& raw_paths = {});

// Streaming reader over JSON text, used to walk the large raw tables
// without building a DOM. Every error throws msa::Error with line/column.
class JsonCursor {
 public:
  JsonCursor(std::string_view text, std::string_view source);
  void skip_ws();
  bool at_end() const { return p_ >= end_; }
  char peek();                 // next non-whitespace character (0 at end)
  void expect(char c);         // skips whitespace, then requires c
  bool consume(char c);        // skips whitespace; consumes c if it is next
  // Reads a string; returns a view into the text when it has no escapes,
  // else into `scratch`.
  std::string_view read_string(std::string& scratch);
  double read_number();
  void read_value(JsonValue& v, int depth, std::string_view path, const std::vector<std::string_view>& raw_paths);
  void skip_value();
  [[noreturn]] void fail(std::string_view msg) const;

 private:
  void expect_literal(const char* lit);
  void parse_string_slow(std::string& out);
  uint32_t parse_hex4();
  const char* p_;
  const char* begin_;
  const char* end_;
  std::string_view source_;
};

// Appends the JSON encoding of a UTF-8 string (quotes included). Invalid UTF-8
// bytes are written as \ufffd so the output is always valid JSON.
void append_json_string(std::string& out, std::string_view s);

}  // namespace msa::model
