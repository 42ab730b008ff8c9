#include "model/tokenizer_json.h"

#include <cmath>
#include <cstdlib>
#include <cstring>

#include "core/error.h"
#include "model/tokenizer_utf8.h"

namespace msa::model {

const char* JsonValue::type_name(Type t) {
  switch (t) {
    case Type::Null: return "null";
    case Type::Bool: return "a boolean";
    case Type::Number: return "a number";
    case Type::String: return "a string";
    case Type::Array: return "an array";
    case Type::Object: return "an object";
    case Type::Raw: return "raw JSON";
  }
  return "?";
}

bool JsonValue::as_bool(std::string_view what) const {
  MSA_CHECK(type_ == Type::Bool, "{}: expected a boolean, got {}", what, type_name(type_));
  return bool_;
}
double JsonValue::as_number(std::string_view what) const {
  MSA_CHECK(type_ == Type::Number, "{}: expected a number, got {}", what, type_name(type_));
  return number_;
}
int64_t JsonValue::as_int(std::string_view what) const {
  double d = as_number(what);
  MSA_CHECK(std::floor(d) == d && std::fabs(d) < 9.0e15, "{}: expected an integer, got {}", what, d);
  return int64_t(d);
}
const std::string& JsonValue::as_string(std::string_view what) const {
  MSA_CHECK(type_ == Type::String, "{}: expected a string, got {}", what, type_name(type_));
  return string_;
}
const std::vector<JsonValue>& JsonValue::as_array(std::string_view what) const {
  MSA_CHECK(type_ == Type::Array, "{}: expected an array, got {}", what, type_name(type_));
  return array_;
}
const std::vector<std::pair<std::string, JsonValue>>& JsonValue::as_object(std::string_view what) const {
  MSA_CHECK(type_ == Type::Object, "{}: expected an object, got {}", what, type_name(type_));
  return object_;
}
const JsonValue* JsonValue::find(std::string_view key) const {
  if (type_ != Type::Object) return nullptr;
  for (auto& [k, v] : object_)
    if (k == key) return &v;
  return nullptr;
}

JsonCursor::JsonCursor(std::string_view text, std::string_view source)
    : p_(text.data()), begin_(text.data()), end_(text.data() + text.size()), source_(source) {}

static constexpr int kMaxDepth = 256;

void JsonCursor::fail(std::string_view msg) const {
  int64_t line = 1, col = 1;
  for (const char* q = begin_; q < p_ && q < end_; ++q) {
    if (*q == '\n') {
      ++line;
      col = 1;
    } else {
      ++col;
    }
  }
  throw_error("{}: invalid JSON at line {} column {}: {}", source_, line, col, msg);
}

void JsonCursor::skip_ws() {
  while (p_ < end_ && (*p_ == ' ' || *p_ == '\n' || *p_ == '\r' || *p_ == '\t')) ++p_;
}

char JsonCursor::peek() {
  skip_ws();
  return p_ < end_ ? *p_ : 0;
}

void JsonCursor::expect(char c) {
  skip_ws();
  if (p_ >= end_ || *p_ != c) fail(fmt::format("expected '{}'", c));
  ++p_;
}

bool JsonCursor::consume(char c) {
  skip_ws();
  if (p_ < end_ && *p_ == c) {
    ++p_;
    return true;
  }
  return false;
}

void JsonCursor::expect_literal(const char* lit) {
  size_t n = std::strlen(lit);
  if (size_t(end_ - p_) < n || std::memcmp(p_, lit, n) != 0) fail("invalid literal");
  p_ += n;
}

double JsonCursor::read_number() {
  skip_ws();
  const char* start = p_;
  if (p_ < end_ && *p_ == '-') ++p_;
  if (p_ >= end_ || !(*p_ >= '0' && *p_ <= '9')) fail("invalid number");
  bool integral = true;
  int64_t acc = 0;
  int digits = 0;
  while (p_ < end_ && *p_ >= '0' && *p_ <= '9') {
    if (digits < 16) acc = acc * 10 + (*p_ - '0');  // longer numbers go through strtod below
    ++digits;
    ++p_;
  }
  if (p_ < end_ && *p_ == '.') {
    integral = false;
    ++p_;
    if (p_ >= end_ || !(*p_ >= '0' && *p_ <= '9')) fail("invalid number");
    while (p_ < end_ && *p_ >= '0' && *p_ <= '9') ++p_;
  }
  if (p_ < end_ && (*p_ == 'e' || *p_ == 'E')) {
    integral = false;
    ++p_;
    if (p_ < end_ && (*p_ == '+' || *p_ == '-')) ++p_;
    if (p_ >= end_ || !(*p_ >= '0' && *p_ <= '9')) fail("invalid number");
    while (p_ < end_ && *p_ >= '0' && *p_ <= '9') ++p_;
  }
  if (integral && digits <= 15) return double(*start == '-' ? -acc : acc);
  std::string tmp(start, p_);
  return std::strtod(tmp.c_str(), nullptr);
}

uint32_t JsonCursor::parse_hex4() {
  if (end_ - p_ < 4) fail("truncated \\u escape");
  uint32_t cp = 0;
  for (int i = 0; i < 4; ++i) {
    char c = p_[i];
    cp <<= 4;
    if (c >= '0' && c <= '9') cp |= uint32_t(c - '0');
    else if (c >= 'a' && c <= 'f') cp |= uint32_t(c - 'a' + 10);
    else if (c >= 'A' && c <= 'F') cp |= uint32_t(c - 'A' + 10);
    else fail("invalid \\u escape");
  }
  p_ += 4;
  return cp;
}

std::string_view JsonCursor::read_string(std::string& scratch) {
  skip_ws();
  if (p_ >= end_ || *p_ != '"') fail("expected a string");
  const char* start = ++p_;
  while (p_ < end_ && *p_ != '"' && *p_ != '\\' && static_cast<unsigned char>(*p_) >= 0x20) ++p_;
  if (p_ < end_ && *p_ == '"') {
    ++p_;
    return std::string_view(start, size_t(p_ - 1 - start));
  }
  p_ = start - 1;
  parse_string_slow(scratch);
  return scratch;
}

void JsonCursor::parse_string_slow(std::string& out) {
  ++p_;  // opening quote
  out.clear();
  for (;;) {
    const char* run = p_;
    while (p_ < end_ && *p_ != '"' && *p_ != '\\' && static_cast<unsigned char>(*p_) >= 0x20) ++p_;
    out.append(run, p_);
    if (p_ >= end_) fail("unterminated string");
    char c = *p_;
    if (c == '"') {
      ++p_;
      return;
    }
    if (c != '\\') fail("control character inside string");
    ++p_;
    if (p_ >= end_) fail("unterminated string");
    char e = *p_++;
    switch (e) {
      case '"': out += '"'; break;
      case '\\': out += '\\'; break;
      case '/': out += '/'; break;
      case 'b': out += '\b'; break;
      case 'f': out += '\f'; break;
      case 'n': out += '\n'; break;
      case 'r': out += '\r'; break;
      case 't': out += '\t'; break;
      case 'u': {
        uint32_t cp = parse_hex4();
        if (cp >= 0xD800 && cp <= 0xDBFF) {
          // High surrogate: combine with a following low surrogate, else U+FFFD.
          if (end_ - p_ >= 6 && p_[0] == '\\' && p_[1] == 'u') {
            const char* save = p_;
            p_ += 2;
            uint32_t lo = parse_hex4();
            if (lo >= 0xDC00 && lo <= 0xDFFF) {
              cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            } else {
              p_ = save;
              cp = 0xFFFD;
            }
          } else {
            cp = 0xFFFD;
          }
        } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
          cp = 0xFFFD;
        }
        append_utf8(out, cp);
        break;
      }
      default: fail(fmt::format("invalid escape '\\{}'", e));
    }
  }
}

void JsonCursor::skip_value() {
  // Skips one value without building it; strings are scanned for their end,
  // brackets are counted. Full validation happens when the text is read.
  skip_ws();
  int depth = 0;
  std::string scratch;
  do {
    if (p_ >= end_) fail("unexpected end of input");
    char c = *p_;
    if (c == '"') {
      read_string(scratch);
    } else if (c == '{' || c == '[') {
      if (++depth > kMaxDepth) fail("nesting too deep");
      ++p_;
    } else if (c == '}' || c == ']') {
      if (--depth < 0) fail("unbalanced brackets");
      ++p_;
    } else {
      ++p_;
    }
    skip_ws();
  } while (depth > 0);
}

void JsonCursor::read_value(JsonValue& v, int depth, std::string_view path,
                            const std::vector<std::string_view>& raw_paths) {
  if (depth > kMaxDepth) fail("nesting too deep");
  skip_ws();
  if (p_ >= end_) fail("unexpected end of input");
  switch (*p_) {
    case '{': {
      ++p_;
      v.type_ = JsonValue::Type::Object;
      if (consume('}')) return;
      std::string child;
      do {
        v.object_.emplace_back();
        auto& [key, value] = v.object_.back();
        std::string_view k = read_string(key);
        if (k.data() != key.data()) key.assign(k);
        expect(':');
        bool raw = false;
        if (!raw_paths.empty() && depth < 4) {
          child = path.empty() ? key : std::string(path) + "." + key;
          for (auto rp : raw_paths) raw = raw || rp == child;
        }
        if (raw) {
          skip_ws();
          const char* start = p_;
          skip_value();
          value.type_ = JsonValue::Type::Raw;
          value.raw_ = std::string_view(start, size_t(p_ - start));
        } else {
          read_value(value, depth + 1, raw_paths.empty() ? std::string_view() : std::string_view(child), raw_paths);
        }
      } while (consume(','));
      expect('}');
      return;
    }
    case '[': {
      ++p_;
      v.type_ = JsonValue::Type::Array;
      if (consume(']')) return;
      do {
        v.array_.emplace_back();
        read_value(v.array_.back(), depth + 1, {}, {});
      } while (consume(','));
      expect(']');
      return;
    }
    case '"': {
      v.type_ = JsonValue::Type::String;
      std::string_view s = read_string(v.string_);
      if (s.data() != v.string_.data()) v.string_.assign(s);
      return;
    }
    case 't': expect_literal("true"); v.type_ = JsonValue::Type::Bool; v.bool_ = true; return;
    case 'f': expect_literal("false"); v.type_ = JsonValue::Type::Bool; v.bool_ = false; return;
    case 'n': expect_literal("null"); v.type_ = JsonValue::Type::Null; return;
    default:
      if (*p_ == '-' || (*p_ >= '0' && *p_ <= '9')) {
        v.type_ = JsonValue::Type::Number;
        v.number_ = read_number();
        return;
      }
      fail(fmt::format("unexpected character '{}'", *p_));
  }
}

JsonValue parse_json(std::string_view text, std::string_view source, const std::vector<std::string_view>& raw_paths) {
  JsonCursor c(text, source);
  JsonValue v;
  c.read_value(v, 0, {}, raw_paths);
  c.skip_ws();
  if (!c.at_end()) c.fail("unexpected trailing characters after the JSON value");
  return v;
}

void append_json_string(std::string& out, std::string_view s) {
  static const char* hex = "0123456789abcdef";
  out += '"';
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {
      size_t n = valid_utf8_sequence_length(s, i);
      if (n == 0) {
        out += "\\ufffd";
        i += 1;
      } else {
        out.append(s.substr(i, n));
        i += n;
      }
      continue;
    }
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (c < 0x20 || c == 0x7f) {
          out += "\\u00";
          out += hex[c >> 4];
          out += hex[c & 15];
        } else {
          out += char(c);
        }
    }
    ++i;
  }
  out += '"';
}

}  // namespace msa::model
