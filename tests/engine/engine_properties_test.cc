// Engine properties on a random tiny MSA model (spec §11 checklist).
#include <gtest/gtest.h>

#include <filesystem>
#include <random>

#include "engine/session.h"
#include "memory/encoder.h"
#include "memory/in_memory_bank.h"
#include "model/model.h"
#include "model/random_checkpoint.h"

namespace fs = std::filesystem;
using namespace msa;

namespace {

std::shared_ptr<model::Model> tiny_model(const std::string& tag, bool decouple = true,
                                         const std::string& method = "INFONCE_DECOUPLE") {
  const fs::path dir = fs::temp_directory_path() / ("msa_eng_" + std::to_string(::getpid()) + tag);
  auto cfg = model::preset_config("tiny");
  cfg.num_attention_heads = 8;  // G = 4
  cfg.msa.router_layer_idx = "1,3";
  cfg.msa.routing_layers = {1, 3};
  cfg.msa.pooling_kernel_size = 3;
  cfg.msa.decouple_router = decouple;
  cfg.msa.aux_loss_method = method;
  model::write_random_checkpoint(cfg, dir.string(), {DType::F32, 1, 3, 0.2f});
  return model::Model::load(dir.string());
}

std::vector<std::vector<int32_t>> random_docs(int n, uint64_t seed) {
  std::mt19937_64 r(seed);
  std::vector<std::vector<int32_t>> docs;
  for (int i = 0; i < n; ++i) {
    std::vector<int32_t> d(size_t(2 + r() % 17));
    for (auto& t : d) t = int32_t(r() % 500);
    docs.push_back(d);
  }
  return docs;
}

struct Built {
  std::shared_ptr<model::Model> m;
  std::unique_ptr<memory::InMemoryBank> bank;
};

Built build(std::shared_ptr<model::Model> m, int ndocs) {
  memory::MemoryEncoder enc(*m);
  const auto& c = m->config();
  auto bank = std::make_unique<memory::InMemoryBank>(int(c.msa.routing_layers.size()), c.num_key_value_heads, c.head_dim);
  bank->set_template(enc.encode_template({501, 496, 10}));
  for (auto& e : enc.encode(random_docs(ndocs, 9))) bank->add(e);
  return {m, std::move(bank)};
}

void question(int64_t k, int T, std::vector<int32_t>* ids, std::vector<int32_t>* tags, std::vector<int32_t>* pos) {
  for (int t = 0; t < T; ++t) {
    ids->push_back(int32_t(100 + 7 * t));
    tags->push_back(t < T - 3 ? 0 : (t == T - 1 ? -1 : -2));
    pos->push_back(int32_t(3 + k + t));
  }
}

}  // namespace

TEST(EngineProperties, EncodingIsIndependentOfBatching) {
  auto m = tiny_model("batch");
  memory::MemoryEncoder enc(*m);
  auto docs = random_docs(5, 1);
  auto batched = enc.encode(docs);
  for (size_t i = 0; i < docs.size(); ++i) {
    auto one = enc.encode_one(docs[i]);
    for (size_t s = 0; s < one.pooled_k.size(); ++s)
      for (size_t j = 0; j < one.pooled_k[s].size(); ++j) {
        EXPECT_NEAR(one.pooled_k[s][j], batched[i].pooled_k[s][j], 1e-5);
        EXPECT_NEAR(one.routing_key[s][j], batched[i].routing_key[s][j], 1e-5);
      }
  }
}

TEST(EngineProperties, FewerDocsThanKSelectsAllAndContextSizesAdd) {
  auto b = build(tiny_model("few"), 3);
  engine::Session s(b.m, b.bank.get(), {/*top_k=*/5});
  std::vector<int32_t> ids, tags, pos;
  question(5, 12, &ids, &tags, &pos);
  std::vector<float> logits;
  s.prefill(ids, tags, pos, &logits);
  ASSERT_EQ(s.routing().size(), 2u);
  for (auto& r : s.routing()) {
    EXPECT_EQ(r.selected.size(), 3u);
    EXPECT_EQ(s.context_rows(r.layer), 3 + b.bank->num_chunks() + 12);
  }
  EXPECT_EQ(s.context_rows(0), 3 + 12);  // non-routing layer: template + question
  EXPECT_EQ(s.next_position(), 3 + 5 + 12);
}

TEST(EngineProperties, LayersRouteIndependentlyAndTopKRespected) {
  auto b = build(tiny_model("k2"), 9);
  engine::Session s(b.m, b.bank.get(), {2});
  std::vector<int32_t> ids, tags, pos;
  question(2, 20, &ids, &tags, &pos);
  std::vector<float> logits;
  s.prefill(ids, tags, pos, &logits);
  for (auto& r : s.routing()) {
    ASSERT_EQ(r.selected.size(), 2u);
    EXPECT_GE(r.selected[0].score, r.selected[1].score);
    int64_t chunks = 0;
    for (auto d : r.context_docs) chunks += b.bank->chunk_begin()[size_t(d) + 1] - b.bank->chunk_begin()[size_t(d)];
    EXPECT_EQ(r.context_chunks, chunks);
  }
}

TEST(EngineProperties, KvCacheDecodeEqualsFullPrefillForPlainLlm) {
  auto m = tiny_model("plain");
  std::vector<int32_t> ids = {5, 77, 300, 12, 9, 41, 200};
  std::vector<int32_t> tags(ids.size(), -1), pos(ids.size());
  for (size_t i = 0; i < ids.size(); ++i) pos[i] = int32_t(i);
  engine::Session full(m, nullptr);
  std::vector<float> all;
  full.prefill(ids, tags, pos, &all, true);
  engine::Session inc(m, nullptr);
  std::vector<float> l;
  inc.prefill({ids[0]}, {-1}, {0}, &l);
  const int64_t V = m->config().vocab_size;
  for (size_t i = 1; i < ids.size(); ++i) {
    inc.decode(ids[i], &l);
    for (int64_t v = 0; v < V; ++v) ASSERT_NEAR(l[size_t(v)], all[i * size_t(V) + size_t(v)], 1e-4);
  }
}

TEST(EngineProperties, NoRoutingTokensSelectsNothing) {
  auto b = build(tiny_model("none"), 4);
  engine::Session s(b.m, b.bank.get(), {2});
  std::vector<int32_t> ids = {1, 2, 3}, tags = {-1, -2, -1}, pos = {5, 6, 7};
  std::vector<float> l;
  s.prefill(ids, tags, pos, &l);
  for (auto& r : s.routing()) EXPECT_TRUE(r.selected.empty());
}

TEST(EngineProperties, TrainingFreeRoutingUsesQueriesAndPooledKeys) {
  auto b = build(tiny_model("tf", /*decouple=*/false, "INFONCE"), 6);
  engine::Session s(b.m, b.bank.get(), {2});
  std::vector<int32_t> ids, tags, pos;
  question(2, 10, &ids, &tags, &pos);
  std::vector<float> l;
  s.prefill(ids, tags, pos, &l);
  ASSERT_EQ(s.routing().size(), 2u);
  EXPECT_EQ(s.routing()[0].selected.size(), 2u);
  // Keys are the pooled attention keys, L2-normalised (exact method "INFONCE").
  const auto& rk = b.bank->routing_keys(0);
  double n = 0;
  for (int i = 0; i < 16; ++i) n += rk[size_t(i)] * rk[size_t(i)];
  EXPECT_NEAR(n, 1.0, 1e-4);
}
