// The answer as a stream (spec §6.4 extraction, done incrementally): fed the
// text the model generates after the restatement, it hands out the part of
// the answer that can no longer change, so the pieces a client receives join
// to exactly the answer of the non-streamed response (`msa serve`, `msa chat`).
//
// Rules (the same for the streamed and the non-streamed response — both feed
// every answer-phase piece through one AnswerStream):
//   * nothing before the first "The answer to the question is:" is answer;
//   * leading whitespace is skipped, trailing whitespace is held back until
//     more text follows it, and the answer ends at "<|im_end|>";
//   * optional stop sequences (OpenAI `stop`) end the answer before them;
//   * a tail that could be the start of "<|im_end|>" or of a stop sequence is
//     held back until it is decided.
// finish(final) reconciles with the engine's extracted answer: when what was
// handed out is a prefix of it (always, unless the model wrote the marker
// twice), the rest is handed out too, so the joined pieces equal `final`.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace msa::engine {

class AnswerStream {
 public:
  explicit AnswerStream(std::vector<std::string> stop_sequences = {});
  // Answer-phase text as it is generated; returns newly settled answer text ("" if none).
  std::string push(std::string_view piece);
  // End of generation; `final_answer` is the engine's extraction (InterleaveResult::answer).
  // Returns the last piece to hand out.
  std::string finish(const std::string& final_answer);
  const std::string& answer() const { return sent_; }  // everything handed out so far
  bool stopped_by_sequence() const { return stopped_by_stop_; }

 private:
  std::string settle(bool at_end);
  std::vector<std::string> stops_;
  std::string raw_;       // answer-phase text so far
  std::string sent_;      // handed out
  size_t start_ = std::string::npos;  // where the answer starts in raw_ (after the marker + spaces)
  bool ended_ = false, stopped_by_stop_ = false;
};

}  // namespace msa::engine
