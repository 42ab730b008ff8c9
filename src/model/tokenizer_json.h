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
  enum class Type { Null, Bool, Number, String, Array, Object };

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
  const std::vector<JsonValue>& as_array(std::string_view what) const;
  const std::vector<std::pair<std::string, JsonValue>>& as_object(std::string_view what) const;

  // Object member lookup (linear; objects here are small except the vocab,
  // which callers iterate). Returns nullptr when absent or not an object.
  const JsonValue* find(std::string_view key) const;

  static const char* type_name(Type t);

 private:
  friend class JsonParser;
  Type type_ = Type::Null;
  bool bool_ = false;
  double number_ = 0;
  std::string string_;
  std::vector<JsonValue> array_;
  std::vector<std::pair<std::string, JsonValue>> object_;
};

// Parses exactly one JSON document (surrounding whitespace allowed).
// `source` names the input in error messages (e.g. a file path or "line 3").
JsonValue parse_json(std::string_view text, std::string_view source);

// Appends the JSON encoding of a UTF-8 string (quotes included). Invalid UTF-8
// bytes are written as \ufffd so the output is always valid JSON.
void append_json_string(std::string& out, std::string_view s);

}  // namespace msa::model
