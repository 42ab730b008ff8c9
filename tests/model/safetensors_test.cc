// safetensors / checkpoint validation: every malformed input gives a clear
// msa::Error naming the file and tensor, never a crash.
#include "model/safetensors.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "model/config.h"
#include "model/model.h"
#include "model/random_checkpoint.h"

namespace fs = std::filesystem;
using namespace msa;
using namespace msa::model;

namespace {

std::string temp_dir(const std::string& name) {
  fs::path p = fs::temp_directory_path() / ("msa_st_" + std::to_string(::getpid()) + "_" + name);
  fs::remove_all(p);
  fs::create_directories(p);
  return p.string();
}

std::vector<uint8_t> image(const std::string& header, size_t data_bytes) {
  std::vector<uint8_t> v(8 + header.size() + data_bytes, 0);
  uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) v[size_t(i)] = uint8_t(n >> (8 * i));
  std::memcpy(v.data() + 8, header.data(), header.size());
  return v;
}

void expect_error(const std::vector<uint8_t>& img, const std::string& needle) {
  try {
    parse_safetensors(img.data(), img.size(), "x.safetensors");
    FAIL() << "expected an error containing '" << needle << "'";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

}  // namespace

TEST(Safetensors, ParsesValidImage) {
  auto img = image(R"({"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},"__metadata__":{"k":"v"}})", 16);
  std::map<std::string, std::string> meta;
  auto t = parse_safetensors(img.data(), img.size(), "x", &meta);
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t["a"].numel(), 4);
  EXPECT_EQ(meta["k"], "v");
}

TEST(Safetensors, RejectsMalformedImages) {
  expect_error({1, 2, 3}, "too small");
  auto big = image("{}", 0);
  big[7] = 0x7f;
  expect_error(big, "implausible");
  auto trunc = image(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", 0);
  trunc.resize(trunc.size() - 5);
  expect_error(trunc, "truncated");
  expect_error(image("{not json", 0), "not valid JSON");
  expect_error(image(R"({"a":{"dtype":"Q4","shape":[1],"data_offsets":[0,1]}})", 1), "unsupported dtype 'Q4'");
  expect_error(image(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,16]}})", 16), "tensor 'a': 16 bytes");
  expect_error(image(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", 8), "truncated file");
  expect_error(image(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})", 12), "overlap");
  expect_error(image(R"({"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,0]}})", 0), "non-negative");
  expect_error(image(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}})", 8), "begin > end");
  expect_error(image(R"([1,2])", 0), "JSON object");
}

// Issue 18 item 4: numel * dtype size wrapped to 0 for [2^31, 2^31] F32 (2^64
// bytes), so a tensor claiming 16 EiB with data_offsets [0, 0] was accepted.
TEST(Safetensors, RejectsByteSizesThatOverflow) {
  expect_error(image(R"({"a":{"dtype":"F32","shape":[2147483648,2147483648],"data_offsets":[0,0]}})", 0),
               "larger than 2^64 bytes");
  expect_error(image(R"({"a":{"dtype":"I64","shape":[2147483648,2147483648],"data_offsets":[0,0]}})", 0),
               "larger than 2^64 bytes");
  // The largest product that still fits is an ordinary size mismatch.
  expect_error(image(R"({"a":{"dtype":"U8","shape":[1073741824,1073741824],"data_offsets":[0,0]}})", 0),
               "expected 1152921504606846976");
}

TEST(Safetensors, WriteReadRoundTrip) {
  const std::string dir = temp_dir("rt");
  std::vector<float> a = {1, 2, 3, 4, 5, 6};
  std::vector<int64_t> b = {7, -8};
  write_safetensors(dir + "/t.safetensors", {{"a", DType::F32, {2, 3}, a.data()}, {"b", DType::I64, {2}, b.data()}});
  SafetensorsFile f(dir + "/t.safetensors");
  ASSERT_EQ(f.tensors().at("a").shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(std::memcmp(f.tensors().at("a").data, a.data(), 24), 0);
  EXPECT_EQ(std::memcmp(f.tensors().at("b").data, b.data(), 16), 0);
  EXPECT_FALSE(fs::exists(dir + "/t.safetensors.tmp"));
}

TEST(Checkpoint, ShardedAndTiedLoad) {
  const std::string dir = temp_dir("sharded");
  auto cfg = preset_config("tiny");
  cfg.tie_word_embeddings = true;
  write_random_checkpoint(cfg, dir, {DType::BF16, 3, 7, 0.02f});
  auto m = Model::load(dir);
  EXPECT_TRUE(m->weights().lm_head_tied);
  EXPECT_EQ(m->weights().lm_head.data, m->weights().embed_tokens.data);
  EXPECT_EQ(m->weights().layers[2].router_q_proj.rows, cfg.q_dim());
  EXPECT_EQ(m->weights().layers[0].router_q_proj.data, nullptr);
}

TEST(Checkpoint, ClearErrorsForBadCheckpoints) {
  auto cfg = preset_config("tiny");
  auto expect_load_error = [&](const std::string& dir, const std::string& needle) {
    try {
      Model::load(dir);
      FAIL() << "expected error containing '" << needle << "'";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  expect_load_error("/nonexistent/model", "does not exist");
  // Missing tensor: a config with more layers than the weights.
  {
    const std::string dir = temp_dir("missing");
    write_random_checkpoint(cfg, dir, {DType::F32, 1, 1, 0.02f});
    auto c2 = cfg;
    c2.num_hidden_layers = 5;
    std::ofstream(dir + "/config.json") << model_config_to_json(c2);
    expect_load_error(dir, "missing tensor 'model.layers.4.");
  }
  // Wrong shape: config hidden size disagrees.
  {
    const std::string dir = temp_dir("shape");
    write_random_checkpoint(cfg, dir, {DType::F32, 1, 1, 0.02f});
    auto c2 = cfg;
    c2.intermediate_size = 96;
    std::ofstream(dir + "/config.json") << model_config_to_json(c2);
    expect_load_error(dir, "has shape [128, 64] but the config requires [96, 64]");
  }
  // Extra tensors: router projections on a layer the config does not route.
  {
    const std::string dir = temp_dir("extra");
    write_random_checkpoint(cfg, dir, {DType::F32, 1, 1, 0.02f});
    auto c2 = cfg;
    c2.msa.router_layer_idx = "3";
    c2.msa.routing_layers = {3};
    std::ofstream(dir + "/config.json") << model_config_to_json(c2);
    expect_load_error(dir, "unexpected tensor 'model.layers.2.self_attn.router_k_proj.0.weight'");
  }
  // Missing lm_head without tying.
  {
    const std::string dir = temp_dir("tie");
    auto c2 = cfg;
    c2.tie_word_embeddings = true;
    write_random_checkpoint(c2, dir, {DType::F32, 1, 1, 0.02f});
    c2.tie_word_embeddings = false;
    std::ofstream(dir + "/config.json") << model_config_to_json(c2);
    expect_load_error(dir, "no lm_head.weight");
  }
  // Truncated weights file.
  {
    const std::string dir = temp_dir("trunc");
    write_random_checkpoint(cfg, dir, {DType::F32, 1, 1, 0.02f});
    fs::resize_file(dir + "/model.safetensors", fs::file_size(dir + "/model.safetensors") - 100);
    expect_load_error(dir, "truncated");
  }
  // Sharded index naming a shard that is gone.
  {
    const std::string dir = temp_dir("shard");
    write_random_checkpoint(cfg, dir, {DType::F32, 2, 1, 0.02f});
    fs::remove(dir + "/model-00002-of-00002.safetensors");
    expect_load_error(dir, "is missing");
  }
}
