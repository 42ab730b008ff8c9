#include "model/tokenizer_pretokenizer.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "core/error.h"

namespace msa::model {

const char* const kGpt2SplitPattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

namespace {
// Per-thread PCRE2 state: match data (one ovector pair is all we read) and a
// JIT stack large enough for long whitespace runs under `\s+(?!\S)`.
struct MatchState {
  pcre2_match_data* data = nullptr;
  pcre2_match_context* context = nullptr;
  pcre2_jit_stack* jit_stack = nullptr;
  MatchState() {
    data = pcre2_match_data_create(1, nullptr);
    context = pcre2_match_context_create(nullptr);
    jit_stack = pcre2_jit_stack_create(32 * 1024, 4 * 1024 * 1024, nullptr);
    if (context && jit_stack) pcre2_jit_stack_assign(context, nullptr, jit_stack);
  }
  ~MatchState() {
    pcre2_match_data_free(data);
    pcre2_match_context_free(context);
    pcre2_jit_stack_free(jit_stack);
  }
};
MatchState& match_state() {
  thread_local MatchState state;
  return state;
}
}  // namespace

Regex::Regex(const std::string& pattern, bool literal, std::string_view what) {
  int err = 0;
  PCRE2_SIZE err_offset = 0;
  uint32_t options = PCRE2_UTF | PCRE2_UCP | (literal ? PCRE2_LITERAL : 0);
  pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(), options, &err,
                                   &err_offset, nullptr);
  if (!code) {
    PCRE2_UCHAR msg[256];
    pcre2_get_error_message(err, msg, sizeof msg);
    throw_error("{}: cannot compile regex at offset {}: {}", what, size_t(err_offset),
                reinterpret_cast<const char*>(msg));
  }
  pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);  // falls back to the interpreter if JIT is unavailable
  code_ = code;
}

Regex::~Regex() { pcre2_code_free(static_cast<pcre2_code*>(code_)); }

bool Regex::find(std::string_view text, size_t from, size_t& begin, size_t& end) const {
  MatchState& st = match_state();
  MSA_CHECK(st.data != nullptr, "out of memory creating regex match data");
  int rc = pcre2_match(static_cast<pcre2_code*>(code_), reinterpret_cast<PCRE2_SPTR>(text.data()), text.size(), from,
                       PCRE2_NO_UTF_CHECK, st.data, st.context);
  if (rc == PCRE2_ERROR_NOMATCH) return false;
  if (rc < 0) {
    PCRE2_UCHAR msg[256];
    pcre2_get_error_message(rc, msg, sizeof msg);
    throw_error("pre-tokenizer regex match failed: {}", reinterpret_cast<const char*>(msg));
  }
  PCRE2_SIZE* ov = pcre2_get_ovector_pointer(st.data);
  begin = ov[0];
  end = ov[1];
  return true;
}

PreTokenizer::PreTokenizer(const JsonValue* v) {
  if (v && !v->is_null()) parse_step(*v, "pre_tokenizer");
}
PreTokenizer::~PreTokenizer() = default;

static bool optional_bool(const JsonValue& v, std::string_view key, bool dflt, std::string_view where) {
  const JsonValue* f = v.find(key);
  if (!f || f->is_null()) return dflt;
  return f->as_bool(fmt::format("{}.{}", where, key));
}

void PreTokenizer::parse_step(const JsonValue& v, std::string_view where) {
  v.as_object(where);
  const JsonValue* type = v.find("type");
  MSA_CHECK(type != nullptr, "{}: missing \"type\"", where);
  const std::string& t = type->as_string(fmt::format("{}.type", where));
  if (t == "Sequence") {
    const JsonValue* list = v.find("pretokenizers");
    MSA_CHECK(list != nullptr, "{}: Sequence without \"pretokenizers\"", where);
    const auto& items = list->as_array(fmt::format("{}.pretokenizers", where));
    for (size_t i = 0; i < items.size(); ++i) parse_step(items[i], fmt::format("{}.pretokenizers[{}]", where, i));
  } else if (t == "Split") {
    Step s;
    s.is_split = true;
    const JsonValue* pat = v.find("pattern");
    MSA_CHECK(pat && pat->is_object(), "{}: Split needs a \"pattern\" object", where);
    if (const JsonValue* r = pat->find("Regex")) {
      s.regex = std::make_unique<Regex>(r->as_string(fmt::format("{}.pattern.Regex", where)), false,
                                        fmt::format("{}.pattern.Regex", where));
    } else if (const JsonValue* lit = pat->find("String")) {
      s.regex = std::make_unique<Regex>(lit->as_string(fmt::format("{}.pattern.String", where)), true,
                                        fmt::format("{}.pattern.String", where));
    } else {
      throw_error("{}: Split pattern must have \"Regex\" or \"String\"", where);
    }
    const JsonValue* b = v.find("behavior");
    std::string behavior = b ? b->as_string(fmt::format("{}.behavior", where)) : "Isolated";
    if (behavior == "Removed") s.behavior = Behavior::Removed;
    else if (behavior == "Isolated") s.behavior = Behavior::Isolated;
    else if (behavior == "MergedWithPrevious") s.behavior = Behavior::MergedWithPrevious;
    else if (behavior == "MergedWithNext") s.behavior = Behavior::MergedWithNext;
    else if (behavior == "Contiguous") s.behavior = Behavior::Contiguous;
    else throw_error("{}.behavior: unknown Split behavior \"{}\"", where, behavior);
    s.invert = optional_bool(v, "invert", false, where);
    steps_.push_back(std::move(s));
  } else if (t == "ByteLevel") {
    has_byte_level_ = true;
    bool use_regex = optional_bool(v, "use_regex", true, where);
    bool prefix = optional_bool(v, "add_prefix_space", false, where);
    if (prefix) {
      Step s;
      s.add_prefix_space = true;
      steps_.push_back(std::move(s));
    }
    if (use_regex) {
      Step s;
      s.is_split = true;
      s.regex = std::make_unique<Regex>(kGpt2SplitPattern, false, "ByteLevel regex");
      s.behavior = Behavior::Isolated;
      steps_.push_back(std::move(s));
    }
  } else {
    throw_error("{}: unsupported pre-tokenizer type \"{}\" (supported: Sequence, Split, ByteLevel)", where, t);
  }
}

void PreTokenizer::apply_split(const Step& s, std::string_view piece, std::vector<std::string_view>& out) const {
  // Cut the piece into alternating gap/match ranges, then combine per behavior.
  struct Range {
    size_t b, e;
    bool match;
  };
  thread_local std::vector<Range> ranges;
  ranges.clear();
  size_t pos = 0, from = 0;
  while (from <= piece.size()) {
    size_t b, e;
    if (!s.regex->find(piece, from, b, e)) break;
    if (e == b) {  // empty match: skip one character, never emit empty pieces
      if (b >= piece.size()) break;
      from = b + 1;
      while (from < piece.size() && (static_cast<unsigned char>(piece[from]) & 0xC0) == 0x80) ++from;
      continue;
    }
    if (b > pos) ranges.push_back({pos, b, false});
    ranges.push_back({b, e, true});
    pos = from = e;
  }
  if (pos < piece.size()) ranges.push_back({pos, piece.size(), false});
  if (s.invert)
    for (auto& r : ranges) r.match = !r.match;

  auto emit = [&](size_t b, size_t e) {
    if (e > b) out.push_back(piece.substr(b, e - b));
  };
  switch (s.behavior) {
    case Behavior::Isolated:
      for (auto& r : ranges) emit(r.b, r.e);
      break;
    case Behavior::Removed:
      for (auto& r : ranges)
        if (!r.match) emit(r.b, r.e);
      break;
    case Behavior::MergedWithPrevious: {
      size_t start = 0;
      for (size_t i = 0; i < ranges.size(); ++i) {
        if (ranges[i].match) {
          emit(start, ranges[i].e);
          start = ranges[i].e;
        }
      }
      emit(start, piece.size());
      break;
    }
    case Behavior::MergedWithNext: {
      size_t start = 0;
      for (size_t i = 0; i < ranges.size(); ++i) {
        if (ranges[i].match) {
          emit(start, ranges[i].b);
          start = ranges[i].b;
        }
      }
      emit(start, piece.size());
      break;
    }
    case Behavior::Contiguous: {
      size_t i = 0;
      while (i < ranges.size()) {
        size_t j = i;
        while (j + 1 < ranges.size() && ranges[j + 1].match == ranges[i].match) ++j;
        emit(ranges[i].b, ranges[j].e);
        i = j + 1;
      }
      break;
    }
  }
}

void PreTokenizer::split(std::string_view text, std::vector<std::string_view>& out,
                         std::deque<std::string>& arena) const {
  size_t first = out.size();
  out.push_back(text);
  std::vector<std::string_view> next;
  for (const Step& s : steps_) {
    next.clear();
    for (size_t i = first; i < out.size(); ++i) {
      std::string_view p = out[i];
      if (s.is_split) {
        apply_split(s, p, next);
      } else if (s.add_prefix_space && !p.empty() && p[0] != ' ') {
        arena.push_back(" " + std::string(p));
        next.push_back(arena.back());
      } else if (!p.empty()) {
        next.push_back(p);
      }
    }
    out.resize(first);
    out.insert(out.end(), next.begin(), next.end());
  }
  if (steps_.empty() && text.empty()) out.resize(first);
}

}  // namespace msa::model
