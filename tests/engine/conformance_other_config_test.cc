// `msa conformance` on a set with another configuration than set1 (GQA 4,
// P = 3, k = 3, routing layers {1, 3}, INFONCE_DECOUPLE scaled-dot scoring,
// tied embeddings), generated here: no code path may assume set1's shapes.
// Without reference outputs, the checks are internal consistency.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "model/random_checkpoint.h"
#include "model/safetensors.h"

namespace fs = std::filesystem;
using nlohmann::json;

TEST(Conformance, RunsOnAnotherConfiguration) {
  const fs::path dir = fs::temp_directory_path() / ("msa_set2_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  auto cfg = msa::model::preset_config("tiny");
  cfg.num_attention_heads = 8;
  cfg.tie_word_embeddings = true;
  cfg.msa.router_layer_idx = "1,3";
  cfg.msa.routing_layers = {1, 3};
  cfg.msa.pooling_kernel_size = 3;
  cfg.msa.aux_loss_method = "INFONCE_DECOUPLE";
  msa::model::write_random_checkpoint(cfg, dir.string(), {msa::DType::F32, 1, 5, 0.3f});
  const int k = 3, steps = 5;
  json in;
  in["template_prefix"] = {{"token_ids", {501, 496, 10}}};
  json docs = json::array();
  for (int i = 0; i < 7; ++i) {
    std::vector<int> ids = {501, 91, 48 + i, 93, 46, 32};
    for (int j = 0; j < 2 + 3 * i; ++j) ids.push_back(130 + (i * 37 + j * 11) % 360);
    ids.insert(ids.end(), {91, 48 + i, 93, 502});
    docs.push_back({{"doc_id", i}, {"token_ids", ids}});
  }
  in["documents"] = docs;
  std::vector<int> q, tags, pos;
  for (int t = 0; t < 20; ++t) {
    q.push_back(t < 17 ? 140 + 13 * t : (t == 19 ? 501 : (t == 17 ? 502 : 10)));
    tags.push_back(t < 17 ? 0 : (t == 19 ? -1 : -2));
    pos.push_back(3 + k + t);
  }
  in["query"] = {{"token_ids", q}, {"doc_ids", tags}, {"position_ids", pos}};
  in["engine"] = {{"doc_top_k", k}, {"pooling_kernel_size", 3}, {"router_layers", {1, 3}}, {"decode_steps", steps}};
  std::ofstream(dir / "inputs.json") << in.dump();
  json ex;
  for (const char* n : {"memory.chunk_doc_id", "memory.layer0.template_k", "memory.layer3.pooled_router_k",
                        "routing.layer1.doc_scores", "routing.layer1.topk_doc_ids", "routing.layer3.topk_doc_ids",
                        "routing.layer3.context_chunk_ids", "routing.layer1.query", "prefill.logits",
                        "decode.generated_ids", "decode.logits"})
    ex["tensors"][n] = {{"dtype", "F32"}};
  std::ofstream(dir / "expected.json") << ex.dump();

  const std::string out = (dir / "out.safetensors").string();
  ASSERT_EQ(std::system((std::string(MSA_BINARY) + " conformance " + dir.string() + " --out " + out + " > /dev/null").c_str()), 0);
  msa::model::SafetensorsFile f(out);
  const auto& t = f.tensors();
  ASSERT_EQ(t.size(), ex["tensors"].size());
  // 7 documents of 12..30 tokens at P = 3.
  int64_t chunks = 0;
  for (int i = 0; i < 7; ++i) chunks += (10 + 2 + 3 * i + 2) / 3;
  EXPECT_EQ(t.at("memory.chunk_doc_id").shape, (std::vector<int64_t>{chunks}));
  EXPECT_EQ(t.at("memory.layer0.template_k").shape, (std::vector<int64_t>{3, 2, 16}));
  EXPECT_EQ(t.at("memory.layer3.pooled_router_k").shape, (std::vector<int64_t>{chunks, 2, 16}));
  EXPECT_EQ(t.at("routing.layer1.query").shape, (std::vector<int64_t>{17, 8, 16}));
  ASSERT_EQ(t.at("routing.layer1.topk_doc_ids").shape, (std::vector<int64_t>{k}));
  // Top-k equals the k best doc_scores.
  std::vector<float> ds(7);
  std::memcpy(ds.data(), t.at("routing.layer1.doc_scores").data, 28);
  std::vector<int64_t> top(k);
  std::memcpy(top.data(), t.at("routing.layer1.topk_doc_ids").data, 8 * k);
  std::vector<int> order = {0, 1, 2, 3, 4, 5, 6};
  std::sort(order.begin(), order.end(), [&](int a, int b) { return ds[size_t(a)] > ds[size_t(b)] || (ds[size_t(a)] == ds[size_t(b)] && a < b); });
  for (int i = 0; i < k; ++i) EXPECT_EQ(top[size_t(i)], order[size_t(i)]);
  // Greedy decoding: g1 = argmax of the last prefill row.
  const float* pl = reinterpret_cast<const float*>(t.at("prefill.logits").data) + 19 * 512;
  int64_t g0;
  std::memcpy(&g0, t.at("decode.generated_ids").data, 8);
  EXPECT_EQ(g0, std::max_element(pl, pl + 512) - pl);
  EXPECT_EQ(t.at("decode.logits").shape, (std::vector<int64_t>{steps, 512}));
  fs::remove_all(dir);
}
