// Multi-turn chat (issue 16): InterleaveOptions::conversation reaches the
// model (it is in the restated question of the answer phase) while routing
// of round 1 uses the question alone. Random tiny model: plumbing only.
#include <gtest/gtest.h>

#include "../product/product_test_util.h"
#include "engine/interleave.h"
#include "engine/pipeline.h"
#include "model/model.h"

using namespace msa;

TEST(Conversation, EarlierTurnsReachTheAnswerPhaseNotRouting) {
  const auto dir = test_util::random_tiny_model_dir("conversation");
  auto m = model::Model::load(dir.string());
  auto tok = std::make_shared<model::Tokenizer>(model::Tokenizer::load((dir / "tokenizer.json").string()));
  engine::EngineOptions eo;
  eo.top_k = 2;
  engine::Pipeline p(m, tok, eo);
  p.add_documents({"alpha one two three .", "beta four five six .", "gamma seven eight nine ."});
  const engine::DocumentTextFn text = [&](int64_t id) -> std::optional<std::string> {
    if (id < 0 || id >= 3) return std::nullopt;
    return std::string("doc ") + std::to_string(id);
  };
  engine::InterleaveOptions io;
  io.engine = eo;
  io.max_round_chars = 0;  // answer right away: the restatement comes after the first token
  io.max_total_tokens = 6;
  engine::InterleaveOptions with = io;
  with.conversation = "Earlier in this conversation:\nuser: remember the zebra\nQuestion now: ";
  const auto a = engine::answer_with_interleave(m, *tok, p.bank(), text, "what is four five six ?", with);
  const auto b = engine::answer_with_interleave(m, *tok, p.bank(), text, "what is four five six ?", io);
  EXPECT_NE(a.transcript.find("remember the zebra"), std::string::npos) << a.transcript;
  EXPECT_EQ(b.transcript.find("remember the zebra"), std::string::npos);
  ASSERT_FALSE(a.rounds.empty());
  ASSERT_EQ(a.rounds[0].routing.size(), b.rounds[0].routing.size());
  for (size_t l = 0; l < a.rounds[0].routing.size(); ++l) {
    ASSERT_EQ(a.rounds[0].routing[l].selected.size(), b.rounds[0].routing[l].selected.size());
    for (size_t i = 0; i < a.rounds[0].routing[l].selected.size(); ++i) {
      EXPECT_EQ(a.rounds[0].routing[l].selected[i].doc, b.rounds[0].routing[l].selected[i].doc);
      EXPECT_EQ(a.rounds[0].routing[l].selected[i].score, b.rounds[0].routing[l].selected[i].score);
    }
  }
  std::filesystem::remove_all(dir);
}
