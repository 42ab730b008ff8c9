// engine::AnswerStream: the streamed pieces join to exactly the non-streamed
// answer whatever way the model's text is cut into pieces.
#include "engine/answer_stream.h"

#include <gtest/gtest.h>

#include "model/prompt_format.h"

using msa::engine::AnswerStream;

namespace {

// Feeds `text` in pieces of `step` bytes; returns the joined output.
std::string stream(const std::string& text, size_t step, const std::string& final_answer,
                   std::vector<std::string> stops = {}) {
  AnswerStream s(std::move(stops));
  std::string out;
  for (size_t i = 0; i < text.size(); i += step) out += s.push(text.substr(i, step));
  out += s.finish(final_answer);
  EXPECT_EQ(out, s.answer());
  return out;
}

TEST(AnswerStream, JoinedPiecesAreTheExtractedAnswerForEveryCut) {
  const std::string gen = "The answer to the question is: 4675<|im_end|>";
  const std::string want = msa::model::extract_answer(gen);
  ASSERT_EQ(want, "4675");
  for (size_t step = 1; step <= gen.size(); ++step) EXPECT_EQ(stream(gen, step, want), want) << step;
}

TEST(AnswerStream, NothingBeforeTheMarkerNorAfterTheEnd) {
  AnswerStream s;
  EXPECT_EQ(s.push("thinking [3]. The answer"), "");
  EXPECT_EQ(s.push(" to the question is:  red"), "red");
  EXPECT_EQ(s.push(" fox "), " fox");  // the trailing space waits for more text
  EXPECT_EQ(s.push("<|im_"), "");      // may be the end token
  EXPECT_EQ(s.push("end|> junk"), "");
  EXPECT_EQ(s.finish("red fox"), "");
  EXPECT_EQ(s.answer(), "red fox");
}

TEST(AnswerStream, NoMarkerIsNoAnswer) {
  EXPECT_EQ(stream("I do not know<|im_end|>", 3, ""), "");
}

TEST(AnswerStream, CapStopsMidAnswer) {
  // No end token: the answer is what was written, trailing spaces dropped.
  const std::string gen = "The answer to the question is: 46 ";
  EXPECT_EQ(stream(gen, 2, msa::model::extract_answer(gen)), "46");
}

TEST(AnswerStream, StopSequencesEndTheAnswer) {
  const std::string gen = "The answer to the question is: 12 and 34<|im_end|>";
  for (size_t step = 1; step < 8; ++step) EXPECT_EQ(stream(gen, step, "12 and 34", {" and"}), "12") << step;
  AnswerStream s({"and"});
  s.push(gen);
  s.finish("12 and 34");
  EXPECT_TRUE(s.stopped_by_sequence());
}

TEST(AnswerStream, FinishCompletesFromTheEnginesAnswer) {
  // The marker was written before the restatement (not in the answer phase):
  // the engine's extraction is handed out at the end.
  EXPECT_EQ(stream("4675<|im_end|>", 4, "4675"), "4675");
}

}  // namespace
