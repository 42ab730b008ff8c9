#include "memory/passages.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "model/tokenizer.h"

namespace msa::memory {
namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

struct Piece {
  size_t begin, end;
  int64_t tokens;
};

int64_t count_tokens(const model::Tokenizer& tok, std::string_view s) {
  return int64_t(tok.encode(s, /*parse_special=*/false).size());
}

// Cuts [b, e) after every occurrence of a separator (kept with the left part).
std::vector<std::pair<size_t, size_t>> cut_after(std::string_view text, size_t b, size_t e,
                                                 bool (*is_cut)(std::string_view, size_t)) {
  std::vector<std::pair<size_t, size_t>> out;
  size_t s = b;
  for (size_t i = b; i < e; ++i)
    if (is_cut(text, i) && i + 1 < e) {
      out.emplace_back(s, i + 1);
      s = i + 1;
    }
  if (s < e) out.emplace_back(s, e);
  return out;
}

bool paragraph_cut(std::string_view t, size_t i) {  // end of a blank line: "\n\n"
  return t[i] == '\n' && i > 0 && t[i - 1] == '\n';
}
bool sentence_cut(std::string_view t, size_t i) {  // ". ", "! ", "? ", ".\n", and any newline
  return t[i] == '\n' || (is_space(t[i]) && i > 0 && (t[i - 1] == '.' || t[i - 1] == '!' || t[i - 1] == '?'));
}
bool word_cut(std::string_view t, size_t i) { return is_space(t[i]); }

size_t utf8_boundary_before(std::string_view t, size_t i) {
  while (i > 0 && (static_cast<unsigned char>(t[i]) & 0xC0) == 0x80) --i;
  return i;
}

// Pieces of [b, e) of at most max tokens each, cut at the coarsest boundary that works.
void pieces_of(const model::Tokenizer& tok, std::string_view text, size_t b, size_t e, int64_t max, int level,
               std::vector<Piece>* out) {
  const int64_t n = count_tokens(tok, text.substr(b, e - b));
  if (n <= max) {
    out->push_back({b, e, n});
    return;
  }
  if (level < 3) {
    static bool (*const cuts[3])(std::string_view, size_t) = {paragraph_cut, sentence_cut, word_cut};
    auto parts = cut_after(text, b, e, cuts[level]);
    if (parts.size() > 1) {
      for (auto [pb, pe] : parts) pieces_of(tok, text, pb, pe, max, level, out);
      return;
    }
    pieces_of(tok, text, b, e, max, level + 1, out);
    return;
  }
  // One word longer than a passage: cut it at a UTF-8 boundary, shrinking
  // the prefix until it fits (at least one character).
  size_t cut = e;
  int64_t c = n;
  while (c > max) {
    size_t next = b + std::max<size_t>(1, (cut - b) * size_t(max) / size_t(c));
    next = utf8_boundary_before(text, std::min(next, cut - 1));
    if (next <= b) {  // keep one whole character
      next = b + 1;
      while (next < e && (static_cast<unsigned char>(text[next]) & 0xC0) == 0x80) ++next;
      if (next >= cut) break;
    }
    cut = next;
    c = count_tokens(tok, text.substr(b, cut - b));
  }
  out->push_back({b, cut, c});
  if (cut < e) pieces_of(tok, text, cut, e, max, level, out);
}

PassageSpan trimmed(std::string_view text, size_t b, size_t e) {
  while (b < e && is_space(text[b])) ++b;
  while (e > b && is_space(text[e - 1])) --e;
  return {b, e};
}

}  // namespace

int64_t default_passage_tokens(const std::string& model_dir) {
  std::ifstream f(std::filesystem::path(model_dir) / "config.json");
  auto j = nlohmann::json::parse(f, nullptr, false);
  if (j.is_object() && j.contains("msa_passage_tokens") && j["msa_passage_tokens"].is_number_integer() &&
      j["msa_passage_tokens"].get<int64_t>() > 0)
    return j["msa_passage_tokens"].get<int64_t>();
  return kDefaultPassageTokens;
}

std::vector<PassageSpan> split_passages(const model::Tokenizer& tok, std::string_view text, int64_t max_tokens) {
  const PassageSpan whole = trimmed(text, 0, text.size());
  if (max_tokens <= 0 || whole.begin == whole.end) return {whole};
  std::vector<Piece> pieces;
  pieces_of(tok, text, whole.begin, whole.end, max_tokens, 0, &pieces);
  // Greedy packing of consecutive pieces (token counts add up closely enough:
  // pieces are cut at whitespace, where the pre-tokenizer cuts anyway).
  std::vector<PassageSpan> out;
  size_t b = pieces[0].begin, e = pieces[0].end;
  int64_t n = pieces[0].tokens;
  for (size_t i = 1; i < pieces.size(); ++i) {
    if (n + pieces[i].tokens <= max_tokens) {
      e = pieces[i].end;
      n += pieces[i].tokens;
      continue;
    }
    if (auto s = trimmed(text, b, e); s.begin < s.end) out.push_back(s);
    b = pieces[i].begin, e = pieces[i].end, n = pieces[i].tokens;
  }
  if (auto s = trimmed(text, b, e); s.begin < s.end) out.push_back(s);
  return out;
}

std::string passage_external_id(const std::string& source_id, size_t i, size_t n) {
  if (n == 1 || source_id.empty()) return n == 1 ? source_id : "";
  return source_id + "#p" + std::to_string(i);
}

std::vector<NewDocument> source_passages(const model::Tokenizer& tok, const NewDocument& source, int64_t max_tokens) {
  const auto spans = split_passages(tok, source.text, max_tokens);
  if (spans.size() == 1) return {source};
  nlohmann::json meta = source.metadata.empty() ? nlohmann::json::object()
                                                : nlohmann::json::parse(source.metadata, nullptr, false);
  if (!meta.is_object()) meta = nlohmann::json{{"value", meta}};
  std::vector<NewDocument> out;
  for (size_t i = 0; i < spans.size(); ++i) {
    NewDocument d;
    d.text = source.text.substr(spans[i].begin, spans[i].end - spans[i].begin);
    d.external_id = passage_external_id(source.external_id, i, spans.size());
    d.ns = source.ns;
    meta["passage"] = {{"source", source.external_id.empty() ? nlohmann::json(nullptr) : nlohmann::json(source.external_id)},
                       {"index", i},
                       {"count", spans.size()},
                       {"chars", {spans[i].begin, spans[i].end}}};
    d.metadata = meta.dump();
    out.push_back(std::move(d));
  }
  return out;
}

std::vector<DocumentInfo> find_source(Bank& bank, const std::string& source_id) {
  std::vector<DocumentInfo> out;
  if (source_id.empty()) return out;
  if (auto d = bank.catalog().find_external(source_id)) {
    if (auto full = bank.document(d->doc_id)) out.push_back(*full);
    return out;
  }
  for (size_t i = 0;; ++i) {
    auto d = bank.catalog().find_external(source_id + "#p" + std::to_string(i));
    if (!d) break;
    if (auto full = bank.document(d->doc_id)) out.push_back(*full);
  }
  return out;
}

std::vector<int64_t> write_source(Bank& bank, const model::Tokenizer& tok, const NewDocument& source_in,
                                  int64_t max_tokens, int64_t* tokens) {
  MSA_CHECK(!source_in.external_id.empty(), "write_source needs an external id");
  const auto old = find_source(bank, source_in.external_id);
  NewDocument source = source_in;
  if (!old.empty()) {  // empty fields keep the source's (as Bank::update does)
    if (source.ns.empty()) source.ns = old[0].ns;
    if (source.metadata.empty() && !old[0].metadata.empty()) {
      auto m = nlohmann::json::parse(old[0].metadata, nullptr, false);
      if (m.is_object()) {
        m.erase("passage");
        if (!m.empty()) source.metadata = m.dump();
      }
    }
  }
  if (source.ns.empty()) source.ns = kDefaultNamespace;
  auto docs = source_passages(tok, source, max_tokens);
  std::vector<int64_t> replaces(docs.size(), -1), removes;
  for (size_t i = 0; i < old.size(); ++i) {
    if (i < docs.size()) replaces[i] = old[i].doc_id;
    else removes.push_back(old[i].doc_id);
  }
  return bank.write(docs, replaces, removes, tokens);
}

}  // namespace msa::memory
