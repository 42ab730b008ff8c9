#include "model/config.h"

#include <gtest/gtest.h>

#include <cmath>

#include "core/error.h"

using namespace msa;
using namespace msa::model;

TEST(Config, ParsesGoldenSet1) {
  auto c = load_model_config(std::string(MSA_SHARED_DIR) + "/golden/set1/config.json");
  EXPECT_EQ(c.hidden_size, 64);
  EXPECT_EQ(c.head_dim, 16);
  EXPECT_TRUE(c.msa.present);
  EXPECT_EQ(c.msa.routing_layers, (std::vector<int>{2, 3}));
  EXPECT_EQ(c.msa.pooling_kernel_size, 4);
  EXPECT_EQ(c.msa.doc_top_k, 2);
  EXPECT_TRUE(c.is_routing_layer(3));
  EXPECT_FALSE(c.is_routing_layer(1));
  auto r = c.routing_score_rule();
  EXPECT_TRUE(r.normalize_query && r.normalize_keys);
  EXPECT_EQ(r.alpha, 1.0f);
}

TEST(Config, ScoreRuleFollowsExactMethodString) {
  const char* base = R"({"vocab_size":10,"hidden_size":8,"intermediate_size":8,"num_hidden_layers":4,
    "num_attention_heads":2,"num_key_value_heads":1,"head_dim":4,"msa_config":{"aux_loss_method":"%s","decouple_router":%s}})";
  auto make = [&](const char* m, const char* dec) {
    char buf[512];
    std::snprintf(buf, sizeof buf, base, m, dec);
    return parse_model_config(buf, "t");
  };
  auto r1 = make("INFONCE_DECOUPLE", "true").routing_score_rule();
  EXPECT_FALSE(r1.normalize_query);
  EXPECT_FALSE(r1.normalize_keys);
  EXPECT_FLOAT_EQ(r1.alpha, 0.5f);  // 1/sqrt(4)
  auto r2 = make("INFONCE", "false").routing_score_rule();
  EXPECT_TRUE(r2.normalize_query && r2.normalize_keys);
  EXPECT_FLOAT_EQ(r2.alpha, 0.5f);
  auto r3 = make("INFONCE_DECOUPLE", "true").routing_score_rule(/*cosine=*/true);
  EXPECT_TRUE(r3.normalize_query);
  EXPECT_FLOAT_EQ(r3.alpha, 1.0f);
  EXPECT_EQ(make("INFONCE", "true").msa.routing_layers.size(), 4u);  // default "all"
}

TEST(Config, ClearErrors) {
  auto err = [](const std::string& text, const std::string& needle) {
    try {
      parse_model_config(text, "cfg.json");
      ADD_FAILURE() << "no error for " << text;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  const std::string ok = R"("vocab_size":10,"hidden_size":8,"intermediate_size":8,"num_hidden_layers":2,"num_attention_heads":2)";
  err("{", "invalid JSON");
  err(R"({"hidden_size":8})", "missing required key 'vocab_size'");
  err("{" + ok + R"(,"num_key_value_heads":3})", "multiple of num_key_value_heads");
  err("{" + ok + R"(,"hidden_act":"gelu"})", "hidden_act 'gelu'");
  err("{" + ok + R"(,"rope_scaling":{"type":"yarn"}})", "rope_scaling");
  err("{" + ok + R"(,"msa_config":{"router_layer_idx":"1,7"}})", "layer 7 out of range");
  err("{" + ok + R"(,"msa_config":{"router_layer_idx":"x"}})", "router_layer_idx");
  err("{" + ok + R"(,"msa_config":{"head_reduce_method":"median"}})", "head_reduce_method 'median'");
  err("{" + ok + R"(,"msa_config":{"aux_loss_method":"MSE"}})", "aux_loss_method 'MSE'");
  err("{" + ok + R"(,"hidden_size":"8"})", "must be an integer");
  err("{" + ok + R"(,"eos_token_id":99})", "outside the vocabulary");
  // Issue 18 item 4: products of sizes from the file are checked, never wrapped.
  err("{" + ok + R"(,"num_attention_heads":4294967296,"num_key_value_heads":4294967296,"head_dim":4294967296})",
      "num_attention_heads x head_dim: size overflows");
  err("{" + ok + R"(,"vocab_size":9223372036854775807})", "vocab_size x hidden_size: size overflows");
  err("{" + ok + R"(,"max_position_embeddings":0})", "max_position_embeddings must be > 0");
}
