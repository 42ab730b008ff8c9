// The fixture of the HTTP server tests: a random tiny model, a fresh bank
// per test, four API keys (A, B, read-only A, all) and a server on a free
// loopback port.
#pragma once

#include <gtest/gtest.h>
#include <httplib.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "engine/bank_service.h"
#include "product_test_util.h"
#include "server/server.h"

namespace server_test {

namespace fs = std::filesystem;
using nlohmann::json;
using namespace msa;

class ServerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { model_dir_ = test_util::random_tiny_model_dir("server"); }

  void SetUp() override {
    bank_dir_ = fs::temp_directory_path() / ("msa_server_bank_" + std::to_string(::getpid()) + "_" +
                                             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(bank_dir_);
    memory::Bank::create(bank_dir_.string(), model_dir_.string());
    model_ = model::Model::load(model_dir_.string());
    tok_ = std::make_shared<model::Tokenizer>(model::Tokenizer::load((model_dir_ / "tokenizer.json").string()));
    memory::BankOpenOptions bo;
    bo.writer = true;
    bo.model = model_;
    bo.tokenizer = tok_;
    bo.model_dir = model_dir_.string();
    // Passages of 16 tokens: the short test documents stay whole.
    service_ = std::make_unique<engine::BankService>(memory::Bank::open(bank_dir_.string(), bo), tok_, 16);
    const fs::path keys = bank_dir_.string() + ".keys.json";
    std::ofstream(keys) << R"({"keys": [{"key": "ka", "namespaces": ["A"]},
                                        {"key": "kb", "namespaces": ["B"]},
                                        {"key": "kro", "namespaces": ["A"], "write": false},
                                        {"key": "kall", "namespaces": ["*"]}]})";
    server::ServerOptions so;
    so.max_body_bytes = 64 << 10;
    so.max_question_tokens = 64;
    so.max_tokens_limit = 64;
    so.default_max_tokens = 12;
    so.max_concurrent_generations = 64;
    so.interleave.engine.top_k = 16;  // ≥ documents: every visible document is selected
    so.interleave.max_rounds = 2;
    so.passage_tokens = 16;
    so.cors_origin = cors_origin();
    server_ = std::make_unique<server::Server>(model_, tok_, *service_, server::ApiKeys::load(keys.string()), so);
    port_ = server_->bind("127.0.0.1", 0);
    thread_ = std::thread([this] { server_->serve(); });
  }

  virtual std::string cors_origin() const { return ""; }

  void TearDown() override {
    server_->stop();
    thread_.join();
    server_.reset();
    service_.reset();
    fs::remove_all(bank_dir_);
  }

  httplib::Client client(const std::string& key = "") {
    httplib::Client c("127.0.0.1", port_);
    c.set_read_timeout(120, 0);
    if (!key.empty()) c.set_bearer_token_auth(key.c_str());
    return c;
  }

  std::vector<int64_t> add(const std::string& key, const std::vector<std::string>& texts) {
    json docs = json::array();
    for (const auto& t : texts) docs.push_back({{"text", t}});
    auto r = client(key).Post("/v1/memory/documents", json{{"documents", docs}}.dump(), "application/json");
    if (!r) {
      ADD_FAILURE() << "add request failed: " << httplib::to_string(r.error());
      return {};
    }
    EXPECT_EQ(r->status, 201) << r->body;
    std::vector<int64_t> ids;
    const json body = json::parse(r->body);
    for (const auto& d : body["data"]) ids.push_back(d["id"].get<int64_t>());
    return ids;
  }

  json chat(const std::string& key, const std::string& q, int* status = nullptr) {
    auto r = client(key).Post("/v1/chat/completions",
                              json{{"messages", {{{"role", "user"}, {"content", q}}}}, {"max_tokens", 12}}.dump(),
                              "application/json");
    if (!r) {  // no response at all: say why instead of dereferencing it
      ADD_FAILURE() << "chat request failed: " << httplib::to_string(r.error());
      if (status) *status = -1;
      return json::object();
    }
    if (status) *status = r->status;
    return json::parse(r->body);
  }

  static std::set<int64_t> selected_docs(const json& completion) {
    std::set<int64_t> s;
    for (const auto& round : completion["msa"]["rounds"])
      for (const auto& [layer, docs] : round["selected"].items())
        for (const auto& d : docs) s.insert(d[0].get<int64_t>());
    return s;
  }

  static inline fs::path model_dir_;
  fs::path bank_dir_;
  std::shared_ptr<model::Model> model_;
  std::shared_ptr<model::Tokenizer> tok_;
  std::unique_ptr<engine::BankService> service_;
  std::unique_ptr<server::Server> server_;
  std::thread thread_;
  int port_ = 0;
};


}  // namespace server_test
