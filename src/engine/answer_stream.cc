#include "engine/answer_stream.h"

#include <algorithm>

#include "model/prompt_format.h"

namespace msa::engine {
namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

std::string_view rstrip(std::string_view s) {
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

// Length of the longest suffix of s that is a proper prefix of `word`.
size_t partial_suffix(std::string_view s, std::string_view word) {
  for (size_t n = std::min(s.size(), word.size() - 1); n > 0; --n)
    if (s.substr(s.size() - n) == word.substr(0, n)) return n;
  return 0;
}

}  // namespace

AnswerStream::AnswerStream(std::vector<std::string> stop_sequences) {
  for (auto& s : stop_sequences)
    if (!s.empty()) stops_.push_back(std::move(s));
}

std::string AnswerStream::push(std::string_view piece) {
  if (ended_) return "";
  raw_.append(piece);
  return settle(false);
}

std::string AnswerStream::settle(bool at_end) {
  if (ended_) return "";
  if (start_ == std::string::npos) {
    const size_t m = raw_.find(model::kAnswerMarker);
    if (m == std::string::npos) return "";
    start_ = m + model::kAnswerMarker.size();
  }
  while (start_ < raw_.size() && is_space(raw_[start_])) ++start_;
  std::string_view body = std::string_view(raw_).substr(std::min(start_, raw_.size()));
  size_t end = body.find(model::kImEnd);
  for (const auto& s : stops_)
    if (size_t p = body.find(s); p != std::string_view::npos && (end == std::string_view::npos || p < end)) {
      end = p;
      stopped_by_stop_ = true;
    }
  if (end != std::string_view::npos) {
    if (body.substr(end).rfind(model::kImEnd, 0) == 0) stopped_by_stop_ = false;
    body = body.substr(0, end);
    ended_ = true;
  } else if (!at_end) {
    size_t hold = partial_suffix(body, model::kImEnd);
    for (const auto& s : stops_) hold = std::max(hold, partial_suffix(body, s));
    body.remove_suffix(hold);
  }
  body = rstrip(body);
  if (body.size() <= sent_.size()) return "";
  std::string out(body.substr(sent_.size()));
  sent_.append(out);
  return out;
}

std::string AnswerStream::finish(const std::string& final_answer) {
  std::string out = settle(true);
  ended_ = true;
  if (stopped_by_stop_) return out;
  std::string_view want = final_answer;
  for (const auto& s : stops_)
    if (size_t p = want.find(s); p != std::string_view::npos) want = rstrip(want.substr(0, p));
  // The engine's extraction wins when it extends what was handed out.
  if (want.size() > sent_.size() && want.substr(0, sent_.size()) == sent_) {
    const std::string rest(want.substr(sent_.size()));
    sent_.append(rest);
    out += rest;
  }
  return out;
}

}  // namespace msa::engine
