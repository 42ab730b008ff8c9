// engine::rank_question (msa.route in the Python package): each routing
// layer's ranking starts with exactly the documents the first round of
// Memory Interleave selects there, with the same scores, and ranks every
// visible document (or the first k).
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>

#include "engine/bank_service.h"
#include "engine/interleave.h"
#include "engine/product.h"
#include "engine/question_routing.h"
#include "memory/bank_ingest.h"

namespace fs = std::filesystem;
using namespace msa;

namespace {

const engine::LoadedModel& tiny() {
  static const engine::LoadedModel m = engine::load_model((fs::path(MSA_SOURCE_DIR) / "models" / "msa-tiny").string());
  return m;
}

// data/demo/niah-1 in a bank, once per process.
std::shared_ptr<memory::Bank> demo_bank() {
  static const std::string dir = [] {
    const fs::path d = fs::temp_directory_path() / ("msa_question_routing_" + std::to_string(::getpid()));
    fs::remove_all(d);
    memory::Bank::create(d.string(), tiny().dir);
    auto bank = memory::Bank::open(d.string(), engine::bank_open_options(tiny(), /*writer=*/true));
    const auto items =
        memory::read_ingest_input((fs::path(MSA_SOURCE_DIR) / "data" / "demo" / "niah-1" / "docs.jsonl").string(),
                                  memory::kDefaultNamespace);
    memory::ingest(*bank, items, {});
    return d.string();
  }();
  return memory::Bank::open(dir, engine::bank_open_options(tiny(), /*writer=*/false));
}

}  // namespace

TEST(QuestionRouting, HeadIsWhatTheFirstRoundSelects) {
  const auto& m = tiny();
  engine::BankService service(demo_bank());
  const auto snap = service.snapshot({"*"});
  for (int64_t top_k : {int64_t(-1), int64_t(2), int64_t(7)}) {
    const auto opts = engine::interleave_options(m.model->config(), {.top_k = top_k, .max_tokens = 24});
    for (const std::string q : {"what is the magic number for copper rabbit?", "tell me about rivers"}) {
      const auto r = engine::answer_with_interleave(m.model, *m.tokenizer, *snap.view, snap.text, q, opts);
      const auto ranks = engine::rank_question(m.model, *m.tokenizer, *snap.view, q, opts.engine, 0);
      ASSERT_EQ(ranks.size(), r.rounds.at(0).routing.size());
      for (size_t i = 0; i < ranks.size(); ++i) {
        const auto& sel = r.rounds[0].routing[i];
        EXPECT_EQ(ranks[i].layer, sel.layer);
        ASSERT_EQ(int64_t(ranks[i].ranked.size()), snap.view->num_docs());
        ASSERT_EQ(sel.selected.size(), size_t(opts.engine.top_k));
        for (size_t j = 0; j < sel.selected.size(); ++j) {
          EXPECT_EQ(ranks[i].ranked[j].doc, sel.selected[j].doc) << q << " layer " << sel.layer << " #" << j;
          EXPECT_EQ(ranks[i].ranked[j].score, sel.selected[j].score);
        }
        for (size_t j = 1; j < ranks[i].ranked.size(); ++j)
          EXPECT_GE(ranks[i].ranked[j - 1].score, ranks[i].ranked[j].score);
      }
      // k limits the ranking to its head.
      const auto five = engine::rank_question(m.model, *m.tokenizer, *snap.view, q, opts.engine, 5);
      for (size_t i = 0; i < five.size(); ++i) {
        ASSERT_EQ(five[i].ranked.size(), 5u);
        for (size_t j = 0; j < 5; ++j) EXPECT_EQ(five[i].ranked[j].doc, ranks[i].ranked[j].doc);
      }
    }
  }
}

TEST(QuestionRouting, OnlyVisibleDocuments) {
  const auto& m = tiny();
  engine::BankService service(demo_bank());
  const auto snap = service.snapshot({"nobody"});
  const auto opts = engine::interleave_options(m.model->config(), {});
  for (const auto& r : engine::rank_question(m.model, *m.tokenizer, *snap.view, "copper rabbit", opts.engine, 0))
    EXPECT_TRUE(r.ranked.empty());
}
