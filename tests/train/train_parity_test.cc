// Training/inference parity: the trainer's forward of a row (routing, selected
// documents, logits) equals the inference engine's (MemoryEncoder +
// InMemoryBank + Session prefill with the same top-k and cosine scoring) on a
// small random model saved by the trainer and loaded by model::Model::load.
// Also: save -> load round trip of the parameters, and a short training run
// whose loss falls.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "engine/session.h"
#include "memory/encoder.h"
#include "memory/in_memory_bank.h"
#include "model/model.h"
#include "model/prompt_format.h"
#include "model/tokenizer.h"
#include "train/params.h"
#include "train/rows.h"
#include "train/step.h"
#include "train/trainer.h"

using namespace msa;
namespace fs = std::filesystem;

static std::string tokenizer_path() {
  const std::string p = std::string(MSA_SOURCE_DIR) + "/models/msa-tiny/tokenizer.json";
  return fs::exists(p) ? p : "";
}

static fs::path temp_dir(const std::string& name) {
  fs::path p = fs::temp_directory_path() / ("msa_train_test_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(p);
  fs::create_directories(p);
  return p;
}

TEST(TrainParity, TrainingForwardMatchesInferenceEngine) {
  const std::string tp = tokenizer_path();
  if (tp.empty()) GTEST_SKIP() << "models/msa-tiny/tokenizer.json not present";
  const model::Tokenizer tok = model::Tokenizer::load(tp);
  train::TrainConfig tc;
  tc.hidden_size = 32; tc.num_layers = 4; tc.num_attention_heads = 4; tc.num_key_value_heads = 2; tc.head_dim = 8;
  tc.intermediate_size = 48; tc.routing_layers = "2,3"; tc.pooling_kernel_size = 4; tc.doc_top_k = 3;
  tc.max_position_embeddings = 2048;
  const model::ModelConfig mc = tc.model_config(int64_t(tok.vocab_size()), tok.token_to_id("<|im_end|>"));
  train::ParamLayout L(mc);
  std::vector<float> w;
  train::init_params(L, 3, 0.15f, &w);
  const fs::path dir = temp_dir("parity");
  train::save_model_dir(L, w, dir.string());
  // Round trip of the parameters.
  std::vector<float> w2;
  train::load_params(L, (dir / "model.safetensors").string(), &w2);
  ASSERT_EQ(w2.size(), w.size());
  for (size_t i = 0; i < w.size(); ++i) ASSERT_EQ(w[i], w2[i]) << i;

  std::mt19937_64 rng(5);
  const data::TaskSet set = data::generate_training_memory(data::Task::kHop2, 9, 1, 3, rng);
  train::RowOptions ro;
  ro.top_k = tc.doc_top_k;
  train::Batch b;
  b.template_ids = model::split_prompt_template(tok).prefix_ids;
  b.episodes.push_back(train::make_episode(tok, set, true, ro, rng));
  ASSERT_EQ(b.episodes[0].rows.size(), 3u);  // round 0, round 1 (g1 injected), answer round

  auto m = model::Model::load(dir.string());
  memory::MemoryEncoder enc(*m);
  memory::InMemoryBank bank(int(mc.msa.routing_layers.size()), mc.num_key_value_heads, mc.head_dim);
  bank.set_template(enc.encode_template(b.template_ids));
  for (auto& e : enc.encode(b.episodes[0].docs)) bank.add(e);

  train::StepRunner runner(L, 1);
  train::StepOptions so;
  so.top_k = tc.doc_top_k;
  const int64_t V = mc.vocab_size;
  for (int r = 0; r < 3; ++r) {
    const train::TrainRow& row = b.episodes[0].rows[size_t(r)];
    const train::RowTrace tr = runner.trace_row(w, b, 0, r, so);
    engine::EngineOptions eo;
    eo.top_k = tc.doc_top_k;
    eo.cosine_scores = false;  // the checkpoint (aux_loss_method INFONCE) already selects cosine scoring
    engine::Session s(m, &bank, eo);
    std::vector<int32_t> pos(row.ids.size());
    for (size_t t = 0; t < pos.size(); ++t) pos[t] = int32_t(b.template_ids.size() + size_t(tc.doc_top_k) + t);
    std::vector<float> logits;
    s.prefill(row.ids, row.tags, pos, &logits, /*all_logits=*/true);
    ASSERT_EQ(logits.size(), tr.logits.size());
    double maxdiff = 0, maxabs = 0;
    for (size_t i = 0; i < logits.size(); ++i) {
      maxdiff = std::max(maxdiff, double(std::abs(logits[i] - tr.logits[i])));
      maxabs = std::max(maxabs, double(std::abs(logits[i])));
    }
    EXPECT_LT(maxdiff, 1e-4 * std::max(1.0, maxabs)) << "row " << r << " (T=" << row.ids.size() << ", V=" << V << ")";
    ASSERT_EQ(s.routing().size(), mc.msa.routing_layers.size());
    for (size_t l = 0; l < s.routing().size(); ++l)
      EXPECT_EQ(s.routing()[l].context_docs, tr.selected[l]) << "row " << r << " routing layer " << l;
  }
  fs::remove_all(dir);
}

// The small model both smoke runs train: 2 layers, d 64, routing layer 1.
static train::TrainConfig smoke_model_config(const std::string& tokenizer) {
  train::TrainConfig tc;
  tc.tokenizer = tokenizer;
  tc.hidden_size = 64; tc.num_layers = 2; tc.num_attention_heads = 4; tc.num_key_value_heads = 2; tc.head_dim = 16;
  tc.intermediate_size = 128; tc.routing_layers = "1"; tc.pooling_kernel_size = 16; tc.doc_top_k = 2;
  return tc;
}

TEST(TrainSmoke, LossFallsQuickly) {
  const std::string tp = tokenizer_path();
  if (tp.empty()) GTEST_SKIP() << "models/msa-tiny/tokenizer.json not present";
  train::TrainConfig tc = smoke_model_config(tp);
  tc.tasks = {{data::Task::kNiah, 1.0}};
  tc.docs_start = tc.docs_end = 6;
  tc.memories_per_step = 2; tc.questions_per_memory = 1; tc.max_id_digits = 2;
  tc.steps = 60; tc.warmup_steps = 5; tc.lr = 3e-3f; tc.aux_phase_steps = 0; tc.aux_weight = 0.3f;
  tc.threads = 2; tc.checkpoint_every = 0;
  const fs::path dir = temp_dir("smoke");
  tc.out_dir = dir.string();
  train::TrainRunOptions o;
  o.quiet = true;
  const train::TrainResult r = train::run_training(tc, o);
  ASSERT_EQ(r.losses.size(), 60u);
  const double first = (r.losses[0] + r.losses[1] + r.losses[2]) / 3, last = (r.losses[57] + r.losses[58] + r.losses[59]) / 3;
  EXPECT_LT(last, 0.7 * first) << "first " << first << " last " << last;
  // The checkpoint loads in the engine.
  auto m = model::Model::load(dir.string());
  EXPECT_TRUE(m->is_msa());
  EXPECT_EQ(m->config().msa.doc_top_k, 2);
  fs::remove_all(dir);
}

// The router learns to tell same-template documents apart (issue: a shared
// knowledge base): on kb memories, where every document is a fact sheet whose
// key shares words with the others, a short run with the smooth-max aux loss
// lifts routing recall@1 well above chance (1/N) and above its start.
TEST(TrainSmoke, RecallOnSameTemplateMemoryRisesAboveChance) {
  constexpr int kSteps = 200;
  const std::string tp = tokenizer_path();
  if (tp.empty()) GTEST_SKIP() << "models/msa-tiny/tokenizer.json not present";
  train::TrainConfig tc = smoke_model_config(tp);
  tc.tasks = {{data::Task::kKb, 1.0}};
  tc.docs_start = tc.docs_end = 8;
  tc.memories_per_step = 4; tc.questions_per_memory = 2; tc.max_id_digits = 2;
  tc.steps = kSteps; tc.warmup_steps = 10; tc.lr = 3e-3f; tc.aux_phase_steps = kSteps; tc.phase1_aux_weight = 1.0f;
  tc.phase1_lm_weight = 0.1f; tc.smooth_max = 0.1f;
  tc.threads = 2; tc.checkpoint_every = 0;
  const fs::path dir = temp_dir("kb_smoke");
  tc.out_dir = dir.string();
  train::TrainRunOptions o;
  o.quiet = true;
  const train::TrainResult r = train::run_training(tc, o);
  ASSERT_EQ(r.recall1.size(), size_t(kSteps));
  auto mean = [&](size_t from, size_t to) {
    double s = 0;
    for (size_t i = from; i < to; ++i) s += r.recall1[i];
    return s / double(to - from);
  };
  const double first = mean(0, 20), last = mean(kSteps - 20, kSteps), chance = 1.0 / 8;
  std::printf("kb recall@1: first 20 steps %.3f, last 20 steps %.3f (chance %.3f)\n", first, last, chance);
  EXPECT_GT(last, 2 * chance);
  EXPECT_GT(last, first + 0.1);
  fs::remove_all(dir);
}
