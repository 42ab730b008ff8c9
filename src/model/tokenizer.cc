#include "model/tokenizer.h"

#include <utf8proc.h>

#include <algorithm>
#include <cstdio>
#include <deque>

#include "core/error.h"
#include "core/mapped_file.h"
#include "model/tokenizer_bpe.h"
#include "model/tokenizer_byte_level.h"
#include "model/tokenizer_json.h"
#include "model/tokenizer_pretokenizer.h"
#include "model/tokenizer_utf8.h"

namespace msa::model {

// One piece of input after added-token splitting: an added token id, or text.
struct Tokenizer::Segment {
  int32_t added_id;  // -1 for text
  std::string_view text;
};

Tokenizer::Tokenizer() = default;
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;
Tokenizer::~Tokenizer() = default;

Tokenizer Tokenizer::load(const std::string& path) {
  MappedFile file(path);
  return from_json(std::string_view(reinterpret_cast<const char*>(file.data()), file.size()), path);
}

Tokenizer Tokenizer::from_json(std::string_view json_text, std::string_view source) {
  JsonValue root = parse_json(json_text, source, {"model.vocab", "model.merges"});
  Tokenizer tok;
  try {
    tok.load_from(root, source);
  } catch (const Error& e) {
    throw Error(fmt::format("{}: {}", source, e.what()));
  }
  return tok;
}

static bool optional_bool(const JsonValue& v, std::string_view key, bool dflt, std::string_view where) {
  const JsonValue* f = v.find(key);
  if (!f || f->is_null()) return dflt;
  return f->as_bool(fmt::format("{}.{}", where, key));
}

static bool parse_normalizer(const JsonValue* n, std::string_view where) {
  if (!n || n->is_null()) return false;
  n->as_object(where);
  const JsonValue* t = n->find("type");
  MSA_CHECK(t != nullptr, "{}: missing \"type\"", where);
  const std::string& type = t->as_string(fmt::format("{}.type", where));
  if (type == "NFC") return true;
  if (type == "Sequence") {
    const JsonValue* list = n->find("normalizers");
    MSA_CHECK(list != nullptr, "{}: Sequence without \"normalizers\"", where);
    bool any = false;
    const auto& items = list->as_array(fmt::format("{}.normalizers", where));
    for (size_t i = 0; i < items.size(); ++i)
      any = parse_normalizer(&items[i], fmt::format("{}.normalizers[{}]", where, i)) || any;
    return any;
  }
  throw_error("{}: unsupported normalizer type \"{}\" (supported: NFC, Sequence)", where, type);
}

static void check_decoder(const JsonValue* d, std::string_view where) {
  if (!d || d->is_null()) return;
  d->as_object(where);
  const JsonValue* t = d->find("type");
  MSA_CHECK(t != nullptr, "{}: missing \"type\"", where);
  const std::string& type = t->as_string(fmt::format("{}.type", where));
  if (type == "ByteLevel") return;
  if (type == "Sequence") {
    const JsonValue* list = d->find("decoders");
    MSA_CHECK(list != nullptr, "{}: Sequence without \"decoders\"", where);
    const auto& items = list->as_array(fmt::format("{}.decoders", where));
    for (size_t i = 0; i < items.size(); ++i) check_decoder(&items[i], fmt::format("{}.decoders[{}]", where, i));
    return;
  }
  throw_error("{}: unsupported decoder type \"{}\" (supported: ByteLevel)", where, type);
}

void Tokenizer::load_from(const JsonValue& root, std::string_view source) {
  root.as_object("top level");
  const JsonValue* model = root.find("model");
  MSA_CHECK(model != nullptr, "missing \"model\"");
  bpe_ = std::make_unique<BpeModel>(*model);
  nfc_ = parse_normalizer(root.find("normalizer"), "normalizer");
  pre_ = std::make_unique<PreTokenizer>(root.find("pre_tokenizer"));
  check_decoder(root.find("decoder"), "decoder");
  MSA_CHECK(pre_->has_byte_level(),
            "pre_tokenizer: no ByteLevel step; only byte-level BPE tokenizers (GPT-2/Qwen style) are supported");

  if (const JsonValue* list = root.find("added_tokens"); list && !list->is_null()) {
    const auto& items = list->as_array("added_tokens");
    for (size_t i = 0; i < items.size(); ++i) {
      std::string where = fmt::format("added_tokens[{}]", i);
      const JsonValue& t = items[i];
      t.as_object(where);
      AddedToken a;
      const JsonValue* id = t.find("id");
      const JsonValue* content = t.find("content");
      MSA_CHECK(id && content, "{}: needs \"id\" and \"content\"", where);
      int64_t idv = id->as_int(where + ".id");
      MSA_CHECK(idv >= 0 && idv < (int64_t(1) << 24), "{}.id: {} out of range [0, 2^24)", where, idv);
      a.id = int32_t(idv);
      a.content = content->as_string(where + ".content");
      MSA_CHECK(!a.content.empty(), "{}.content: empty", where);
      MSA_CHECK(is_valid_utf8(a.content), "{}.content: invalid UTF-8", where);
      a.special = optional_bool(t, "special", false, where);
      a.normalized = optional_bool(t, "normalized", !a.special, where);
      a.lstrip = optional_bool(t, "lstrip", false, where);
      a.rstrip = optional_bool(t, "rstrip", false, where);
      a.single_word = optional_bool(t, "single_word", false, where);
      if (a.normalized && nfc_) a.content = nfc(a.content);
      any_normalized_added_ = any_normalized_added_ || a.normalized;
      added_.push_back(std::move(a));
    }
  }
  MSA_CHECK(added_.size() < 65535, "added_tokens: too many ({})", added_.size());
  added_by_first_byte_.assign(256, {});
  for (size_t i = 0; i < added_.size(); ++i)
    added_by_first_byte_[static_cast<uint8_t>(added_[i].content[0])].push_back(uint16_t(i));
  for (auto& v : added_by_first_byte_)
    std::stable_sort(v.begin(), v.end(),
                     [&](uint16_t a, uint16_t b) { return added_[a].content.size() > added_[b].content.size(); });

  // Decoded bytes of every id: vocab tokens through the ByteLevel alphabet
  // (raw token bytes when a character is outside it, as HF does), added
  // tokens as their content.
  int32_t max_id = bpe_->max_id();
  for (auto& a : added_) max_id = std::max(max_id, a.id);
  known_.assign(size_t(max_id + 1), false);
  special_.assign(size_t(max_id + 1), false);
  std::vector<const AddedToken*> added_of(size_t(max_id + 1), nullptr);
  for (auto& a : added_) {
    added_of[size_t(a.id)] = &a;
    known_[size_t(a.id)] = true;
    special_[size_t(a.id)] = a.special;
  }
  const auto& alphabet = ByteLevelAlphabet::get();
  decoded_off_.resize(size_t(max_id) + 2);
  decoded_buf_.reserve(size_t(max_id + 1) * 6);
  for (int32_t id = 0; id <= max_id; ++id) {
    decoded_off_[size_t(id)] = uint32_t(decoded_buf_.size());
    if (const AddedToken* a = added_of[size_t(id)]) {
      decoded_buf_ += a->content;
      continue;
    }
    std::string_view t = bpe_->token(id);
    if (t.empty()) continue;
    known_[size_t(id)] = true;
    if (!alphabet.decode(t, decoded_buf_)) decoded_buf_ += t;
  }
  decoded_off_[size_t(max_id) + 1] = uint32_t(decoded_buf_.size());
  (void)source;
}

// Unicode White_Space (what Rust's char::is_whitespace tests for lstrip/rstrip).
static bool is_white_space(uint32_t c) {
  return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

static bool is_word_char(uint32_t c) {
  if (c < 0x80) return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
  auto cat = utf8proc_category(utf8proc_int32_t(c));
  return (cat >= UTF8PROC_CATEGORY_LU && cat <= UTF8PROC_CATEGORY_LO) ||
         (cat >= UTF8PROC_CATEGORY_ND && cat <= UTF8PROC_CATEGORY_NO);
}

// Code point that ends at byte `end` (exclusive) of valid UTF-8 text.
static uint32_t code_point_before(std::string_view s, size_t end, size_t& start) {
  start = end - 1;
  while (start > 0 && (static_cast<unsigned char>(s[start]) & 0xC0) == 0x80) --start;
  size_t i = start;
  return next_code_point(s, i);
}

// True when [b, e) lies inside one of the sorted spans.
static bool inside_a_span(std::span<const Tokenizer::ByteSpan> spans, size_t b, size_t e) {
  auto it = std::upper_bound(spans.begin(), spans.end(), b,
                             [](size_t x, const Tokenizer::ByteSpan& s) { return x < s.begin; });
  if (it == spans.begin()) return false;
  --it;
  return b >= it->begin && e <= it->end;
}

void Tokenizer::split_added(std::string_view text, bool normalized_pass, bool parse_special,
                            std::vector<Segment>& out, std::span<const ByteSpan> const* special_spans) const {
  size_t emitted = 0;  // text before this offset has been emitted
  size_t i = 0;
  const size_t n = text.size();
  while (i < n) {
    const auto& cands = added_by_first_byte_[static_cast<uint8_t>(text[i])];
    if (cands.empty()) {
      ++i;
      continue;
    }
    const AddedToken* hit = nullptr;
    for (uint16_t c : cands) {
      const AddedToken& a = added_[c];
      if (a.normalized != normalized_pass || (a.special && !parse_special)) continue;
      if (text.compare(i, a.content.size(), a.content) != 0) continue;
      if (a.special && special_spans && !inside_a_span(*special_spans, i, i + a.content.size())) continue;
      hit = &a;
      break;
    }
    if (!hit) {
      ++i;
      continue;
    }
    size_t b = i, e = i + hit->content.size();
    if (hit->single_word) {
      size_t s;
      bool left_ok = b == 0 || !is_word_char(code_point_before(text, b, s));
      size_t j = e;
      bool right_ok = e == n || !is_word_char(next_code_point(text, j));
      if (!left_ok || !right_ok) {
        i = e;  // HF: a rejected match still consumes its bytes
        continue;
      }
    }
    if (hit->lstrip) {
      while (b > emitted) {
        size_t s;
        if (!is_white_space(code_point_before(text, b, s))) break;
        b = s;
      }
    }
    if (hit->rstrip) {
      while (e < n) {
        size_t j = e;
        if (!is_white_space(next_code_point(text, j))) break;
        e = j;
      }
    }
    if (b > emitted) out.push_back({-1, text.substr(emitted, b - emitted)});
    out.push_back({hit->id, {}});
    emitted = i = e;
  }
  if (emitted < n) out.push_back({-1, text.substr(emitted)});
}

void Tokenizer::encode_text(std::string_view text, std::vector<int32_t>& out) const {
  thread_local std::vector<std::string_view> pieces;
  std::deque<std::string> arena;
  pieces.clear();
  pre_->split(text, pieces, arena);
  for (std::string_view p : pieces) bpe_->encode_piece(p, out);
}

void Tokenizer::encode_append(std::string_view input, bool parse_special, std::vector<int32_t>& out) const {
  std::string sanitized;
  std::string_view text = input;
  if (!is_valid_utf8(text)) {
    sanitized = sanitize_utf8(text);
    text = sanitized;
  }
  encode_segments(text, parse_special, nullptr, out);
}

void Tokenizer::encode_segments(std::string_view text, bool parse_special,
                                std::span<const ByteSpan> const* special_spans, std::vector<int32_t>& out) const {
  std::vector<Segment> segments;
  split_added(text, /*normalized_pass=*/false, parse_special, segments, special_spans);
  std::string normalized;
  std::vector<Segment> inner;
  for (const Segment& seg : segments) {
    if (seg.added_id >= 0) {
      out.push_back(seg.added_id);
      continue;
    }
    std::string_view piece = seg.text;
    // Offsets do not survive NFC: special tokens matched after normalisation
    // are allowed only when the whole piece lies inside one special span.
    const size_t at = size_t(seg.text.data() - text.data());
    const bool piece_special =
        parse_special && (!special_spans || inside_a_span(*special_spans, at, at + seg.text.size()));
    if (nfc_ && !nfc_is_identity_fast(piece)) {
      normalized = nfc(piece);
      piece = normalized;
    }
    if (!any_normalized_added_) {
      encode_text(piece, out);
      continue;
    }
    inner.clear();
    split_added(piece, /*normalized_pass=*/true, piece_special, inner);
    for (const Segment& s : inner) {
      if (s.added_id >= 0) out.push_back(s.added_id);
      else encode_text(s.text, out);
    }
  }
}

std::vector<int32_t> Tokenizer::encode_with_special_spans(std::string_view text,
                                                          std::span<const ByteSpan> special_spans) const {
  MSA_CHECK(is_valid_utf8(text), "encode_with_special_spans: text is not valid UTF-8");
  for (size_t i = 0; i < special_spans.size(); ++i)
    MSA_CHECK(special_spans[i].begin <= special_spans[i].end && special_spans[i].end <= text.size() &&
                  (i == 0 || special_spans[i - 1].end <= special_spans[i].begin),
              "encode_with_special_spans: span {} [{}, {}) is out of order or outside the text ({} bytes)", i,
              special_spans[i].begin, special_spans[i].end, text.size());
  std::vector<int32_t> ids;
  ids.reserve(text.size() / 3 + 4);
  encode_segments(text, true, &special_spans, ids);
  return ids;
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool parse_special) const {
  std::vector<int32_t> ids;
  ids.reserve(text.size() / 3 + 4);
  encode_append(text, parse_special, ids);
  return ids;
}

std::string_view Tokenizer::token_bytes(int32_t id) const {
  if (!is_valid_id(id)) return {};
  return std::string_view(decoded_buf_).substr(decoded_off_[size_t(id)],
                                               decoded_off_[size_t(id) + 1] - decoded_off_[size_t(id)]);
}

std::string Tokenizer::decode(std::span<const int32_t> ids, bool skip_special) const {
  std::string bytes;
  for (int32_t id : ids) {
    if (!is_valid_id(id)) continue;
    if (skip_special && special_[size_t(id)]) continue;
    bytes += token_bytes(id);
  }
  if (is_valid_utf8(bytes)) return bytes;
  return sanitize_utf8(bytes);
}

int32_t Tokenizer::token_to_id(std::string_view token) const {
  for (auto& a : added_)
    if (a.content == token) return a.id;
  return bpe_->token_to_id(token);
}

int32_t Tokenizer::require_token(std::string_view token) const {
  int32_t id = token_to_id(token);
  MSA_CHECK(id >= 0, "tokenizer has no token \"{}\"", token);
  return id;
}

bool Tokenizer::is_special(int32_t id) const { return is_valid_id(id) && special_[size_t(id)]; }

std::string StreamDecoder::push(int32_t id) {
  if (!tok_.is_valid_id(id) || (skip_special_ && tok_.is_special(id))) return {};
  pending_ += tok_.token_bytes(id);
  size_t n = complete_utf8_prefix(pending_);
  if (n == 0) return {};
  std::string out = sanitize_utf8(std::string_view(pending_).substr(0, n));
  pending_.erase(0, n);
  return out;
}

std::string StreamDecoder::flush() {
  std::string out = sanitize_utf8(pending_);
  pending_.clear();
  return out;
}

}  // namespace msa::model
