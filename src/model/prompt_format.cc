#include "model/prompt_format.h"

#include <utf8proc.h>

#include <algorithm>
#include <limits>

#include "core/error.h"
#include "model/tokenizer.h"
#include "model/tokenizer_utf8.h"

namespace msa::model {

std::string format_memory_document(int64_t index, std::string_view text) {
  std::string id = std::to_string(index);
  std::string s;
  s.reserve(text.size() + 2 * id.size() + 32);
  s.append(kImStart).append("[").append(id).append("]. ").append(text);
  s.append("[").append(id).append("]").append(kImEnd);
  return s;
}

PromptText& PromptText::trusted(std::string_view s) {
  std::string clean;
  if (!is_valid_utf8(s)) s = clean = sanitize_utf8(s);
  if (s.empty()) return *this;
  const size_t at = text_.size();
  text_.append(s);
  if (!spans_.empty() && spans_.back().end == at) spans_.back().end = text_.size();
  else spans_.push_back({at, text_.size()});
  return *this;
}

PromptText& PromptText::untrusted(std::string_view s) {
  if (is_valid_utf8(s)) text_.append(s);
  else text_.append(sanitize_utf8(s));
  return *this;
}

PromptText& PromptText::append(const PromptText& o) {
  const size_t base = text_.size();
  text_.append(o.text_);
  for (const auto& sp : o.spans_) {
    if (!spans_.empty() && spans_.back().end == base + sp.begin) spans_.back().end = base + sp.end;
    else spans_.push_back({base + sp.begin, base + sp.end});
  }
  return *this;
}

std::vector<int32_t> PromptText::encode(const Tokenizer& tok) const {
  return tok.encode_with_special_spans(text_, spans_);
}

bool PromptText::is_trusted(size_t b, size_t e) const {
  for (const auto& sp : spans_)
    if (b >= sp.begin && e <= sp.end) return true;
  return false;
}

PromptText PromptText::prefix(size_t bytes) const {
  PromptText p;
  p.text_ = text_.substr(0, bytes);
  for (const auto& sp : spans_)
    if (sp.begin < p.text_.size()) p.spans_.push_back({sp.begin, std::min(sp.end, p.text_.size())});
  return p;
}

std::vector<int32_t> encode_memory_document(const Tokenizer& tok, int64_t index, std::string_view text) {
  const std::string id = std::to_string(index);
  PromptText p;
  p.trusted(std::string(kImStart) + "[" + id + "]. ").untrusted(text).trusted("[" + id + "]" + std::string(kImEnd));
  return p.encode(tok);
}

TemplateSplit split_prompt_template(const Tokenizer& tok, std::string_view pattern) {
  constexpr std::string_view slot = "{prompt}";
  size_t at = pattern.find(slot);
  MSA_CHECK(at != std::string_view::npos, "prompt template has no {{prompt}} slot: \"{}\"", pattern);
  TemplateSplit t;
  t.prefix_text = std::string(pattern.substr(0, at));
  t.tail_text = std::string(pattern.substr(at + slot.size()));
  const int32_t pad = tok.require_token(kEndOfText);
  std::string filled = t.prefix_text + std::string(kEndOfText) + t.tail_text;
  std::vector<int32_t> ids = tok.encode(filled, true);
  auto it = std::find(ids.begin(), ids.end(), pad);
  MSA_CHECK(it != ids.end(), "prompt template: pad token not found after tokenisation");
  t.prefix_ids.assign(ids.begin(), it);
  t.tail_ids.assign(it + 1, ids.end());
  return t;
}

void TaggedIds::append(const std::vector<int32_t>& more, int32_t tag) {
  ids.insert(ids.end(), more.begin(), more.end());
  tags.insert(tags.end(), more.size(), tag);
}

std::string routed_question_text(std::string_view question) {
  std::string s(kQuestionHead);
  s.append(question).append(kQuestionTail);
  return s;
}

TaggedIds first_round_row(const Tokenizer& tok, std::string_view question, bool parse_special) {
  TaggedIds row;
  row.append(tok.encode(routed_question_text(question), parse_special), kTagRoutingQuery);
  row.append(split_prompt_template(tok).tail_ids, kTagTemplate);
  row.append({tok.require_token(kImStart)}, kTagOther);
  return row;
}

// Value of a Unicode decimal digit (category Nd), as Python's int() reads it:
// Nd characters come in contiguous runs of 0..9.
static int digit_value(uint32_t cp) {
  if (cp >= '0' && cp <= '9') return int(cp - '0');
  if (utf8proc_category(utf8proc_int32_t(cp)) != UTF8PROC_CATEGORY_ND) return -1;
  uint32_t k = 0;
  while (cp - k > 0 && utf8proc_category(utf8proc_int32_t(cp - k - 1)) == UTF8PROC_CATEGORY_ND) ++k;
  return int(k % 10);
}

std::vector<int64_t> parse_generated_doc_ids(std::string_view raw, const std::function<bool(int64_t)>& is_known) {
  std::string clean;
  std::string_view text = raw;
  if (!is_valid_utf8(raw)) {
    clean = sanitize_utf8(raw);
    text = clean;
  }
  std::vector<int64_t> ids;
  size_t i = 0;
  while (i < text.size()) {
    if (text[i] != '[') {
      ++i;
      continue;
    }
    // Python re `\[(\d+)\]` with Unicode \d; on failure the scan resumes at i + 1.
    size_t j = i + 1;
    int64_t value = 0;
    bool overflow = false;
    int digits = 0;
    while (j < text.size()) {
      size_t k = j;
      int d = digit_value(next_code_point(text, k));
      if (d < 0) break;
      if (value > (std::numeric_limits<int64_t>::max() - d) / 10) overflow = true;
      else value = value * 10 + d;
      ++digits;
      j = k;
    }
    if (digits > 0 && j < text.size() && text[j] == ']') {
      if (!overflow && is_known(value)) ids.push_back(value);
      i = j + 1;
    } else {
      ++i;
    }
  }
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  return ids;
}

std::string injection_block(const std::vector<int64_t>& ids, const std::function<std::string(int64_t)>& text_of) {
  std::string s;
  for (int64_t id : ids) s.append("[").append(std::to_string(id)).append("]. ").append(text_of(id)).append("\n");
  s.append(kObjectRefEnd);
  return s;
}

std::string restatement_block(std::string_view question) {
  std::string s(kRestatePrefix);
  s.append(question).append("\n").append(kObjectRefEnd);
  return s;
}

PromptText restatement_prompt(std::string_view question) {
  PromptText p(kRestatePrefix);
  p.untrusted(question).trusted("\n").trusted(kObjectRefEnd);
  return p;
}

PromptText injection_prompt(const std::vector<int64_t>& ids, const std::function<std::string(int64_t)>& text_of) {
  PromptText p;
  for (int64_t id : ids) p.trusted("[" + std::to_string(id) + "]. ").untrusted(text_of(id)).trusted("\n");
  p.trusted(kObjectRefEnd);
  return p;
}

std::optional<std::string> recover_question(std::string_view t) {
  constexpr std::string_view head = "historical document information\n\n";
  constexpr std::string_view tail = "\nPlease return all documents related to the question";
  size_t h = t.rfind(head);
  if (h == std::string_view::npos) return std::nullopt;
  size_t start = h + head.size();
  size_t e = t.find(tail, start);
  if (e == std::string_view::npos) return std::nullopt;
  return std::string(t.substr(start, e - start));
}

// Python str.strip(): removes leading/trailing characters with isspace().
static std::string_view strip(std::string_view s) {
  auto is_space = [](uint32_t c) {
    return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
  };
  size_t b = 0;
  while (b < s.size()) {
    size_t k = b;
    if (valid_utf8_sequence_length(s, b) == 0 || !is_space(next_code_point(s, k))) break;
    b = k;
  }
  size_t e = s.size();
  while (e > b) {
    size_t st = e - 1;
    while (st > b && (static_cast<unsigned char>(s[st]) & 0xC0) == 0x80) --st;
    size_t k = st;
    if (valid_utf8_sequence_length(s, st) != e - st || !is_space(next_code_point(s, k))) break;
    e = st;
  }
  return s.substr(b, e - b);
}

std::string extract_answer(std::string_view t) {
  size_t m = t.rfind(kAnswerMarker);
  std::string_view rest = m == std::string_view::npos ? t : t.substr(m + kAnswerMarker.size());
  size_t e = rest.find(kImEnd);
  if (e != std::string_view::npos) rest = rest.substr(0, e);
  return std::string(strip(rest));
}

bool needs_another_round(std::string_view t) {
  return t.size() >= kObjectRefEnd.size() && t.substr(t.size() - kObjectRefEnd.size()) == kObjectRefEnd &&
         t.find(kAnswerMarker) == std::string_view::npos;
}

TaggedIds reencode_row(const Tokenizer& tok, std::string_view t) { return reencode_row(tok, PromptText(t)); }

TaggedIds reencode_row(const Tokenizer& tok, const PromptText& transcript) {
  const std::string_view t = transcript.text();
  TaggedIds row;
  row.ids = transcript.encode(tok);
  row.tags.assign(row.ids.size(), kTagOther);
  auto tokens_before = [&](size_t byte_end) {
    return std::min(transcript.prefix(byte_end).encode(tok).size(), row.ids.size());
  };
  auto set_query = [&](size_t a, size_t b) {
    for (size_t i = a; i < b && i < row.tags.size(); ++i) row.tags[i] = kTagRoutingQuery;
  };
  constexpr std::string_view phrase = "Please return all documents related to the question";
  if (size_t p = t.find(phrase); p != std::string_view::npos) set_query(0, tokens_before(p + phrase.size()));
  // Only a real "<|object_ref_end|>" (a trusted one) delimits the last
  // injected block: the same text inside a document does not move the span.
  const std::string marker = "]" + std::string(kObjectRefEnd) + "[";
  auto real_end_at = [&](size_t at) { return transcript.is_trusted(at, at + kObjectRefEnd.size()); };
  size_t p = t.rfind(marker);
  while (p != std::string_view::npos && !real_end_at(p + 1))
    p = p == 0 ? std::string_view::npos : t.rfind(marker, p - 1);
  if (p != std::string_view::npos) {
    size_t start = p + marker.size() - 1;  // the "[" of the last injected block
    size_t end = t.find(kObjectRefEnd, start);
    while (end != std::string_view::npos && !real_end_at(end)) end = t.find(kObjectRefEnd, end + 1);
    if (end == std::string_view::npos) end = t.size();
    set_query(tokens_before(start), tokens_before(end));
  }
  return row;
}

}  // namespace msa::model
