// The HTTP server over loopback with a real client: auth, namespace isolation,
// limits, streaming, concurrency, writes visible to the next question, and a
// graceful stop that completes requests in flight. Random tiny model: these
// tests check the plumbing, not answer quality.
#include <gtest/gtest.h>
#include <httplib.h>

#include <filesystem>
#include <fstream>
#include <condition_variable>
#include <future>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "engine/bank_service.h"
#include "product_test_util.h"
#include "server/server.h"

namespace fs = std::filesystem;
using nlohmann::json;
using namespace msa;

namespace {

// The bank service with a gate on snapshot() (the first thing a chat does), so
// a test can hold a question in flight and know that it is: a real
// synchronisation point instead of a sleep.
class GatedService : public engine::MemoryService {
 public:
  explicit GatedService(engine::MemoryService& inner) : inner_(inner) {}
  // The next snapshot() fulfils `entered` and then waits for release().
  std::future<void> arm() {
    std::lock_guard<std::mutex> l(mu_);
    armed_ = true;
    released_ = false;
    entered_ = std::promise<void>();
    return entered_.get_future();
  }
  void release() {
    std::lock_guard<std::mutex> l(mu_);
    released_ = true;
    cv_.notify_all();
  }
  engine::MemorySnapshot snapshot(const std::vector<std::string>& ns) const override {
    {
      std::unique_lock<std::mutex> l(mu_);
      if (armed_) {
        armed_ = false;
        entered_.set_value();
        cv_.wait(l, [&] { return released_; });
      }
    }
    return inner_.snapshot(ns);
  }
  std::vector<engine::DocumentRecord> add(const std::vector<engine::NewDocumentRequest>& d) override { return inner_.add(d); }
  std::optional<engine::DocumentRecord> update(int64_t id, const std::string& t, const std::vector<std::string>& ns) override {
    return inner_.update(id, t, ns);
  }
  bool remove(int64_t id, const std::vector<std::string>& ns) override { return inner_.remove(id, ns); }
  std::optional<engine::DocumentRecord> get(int64_t id, const std::vector<std::string>& ns) const override {
    return inner_.get(id, ns);
  }
  std::vector<engine::DocumentRecord> list(const std::vector<std::string>& ns, int64_t offset, int64_t limit,
                                           int64_t* total) const override {
    return inner_.list(ns, offset, limit, total);
  }
  engine::MemoryStats stats() const override { return inner_.stats(); }

 private:
  engine::MemoryService& inner_;
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  mutable bool armed_ = false, released_ = false;
  mutable std::promise<void> entered_;
};

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
    service_ = std::make_unique<engine::BankService>(memory::Bank::open(bank_dir_.string(), bo));
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
    gated_ = std::make_unique<GatedService>(*service_);
    keys_file_ = keys;
    server_ = std::make_unique<server::Server>(model_, tok_, *gated_, server::ApiKeys::load(keys.string()), so);
    port_ = server_->bind("127.0.0.1", 0);
    thread_ = std::thread([this] { server_->serve(); });
  }

  void TearDown() override {
    if (server_) server_->stop();
    thread_.join();
    server_.reset();
    gated_.reset();
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
  std::unique_ptr<GatedService> gated_;
  fs::path keys_file_;
  std::unique_ptr<server::Server> server_;
  std::thread thread_;
  int port_ = 0;
};

TEST_F(ServerTest, HealthAndMetrics) {
  auto h = client().Get("/health");
  ASSERT_TRUE(h);
  EXPECT_EQ(h->status, 200);
  EXPECT_EQ(json::parse(h->body)["status"], "ok");
  add("ka", {"the magic number for red fox is 4821 ."});
  chat("ka", "what is the magic number for red fox ?");
  // The request counter is updated by the access logger after the response is
  // sent, so poll briefly.
  std::string metrics;
  for (int i = 0; i < 100; ++i) {
    auto m = client().Get("/metrics");
    ASSERT_TRUE(m);
    metrics = m->body;
    if (metrics.find("/v1/chat/completions\",status=\"200\"} 1") != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_NE(metrics.find("msa_stage_latency_ms_bucket{stage=\"route\""), std::string::npos);
  EXPECT_NE(metrics.find("msa_bank_documents 1"), std::string::npos);
  EXPECT_NE(metrics.find("msa_requests_total{endpoint=\"POST /v1/chat/completions\",status=\"200\"} 1"),
            std::string::npos);
}

TEST_F(ServerTest, RefusesMissingOrUnknownKeys) {
  for (const std::string key : {"", "nope"}) {
    auto r = client(key).Post("/v1/chat/completions", R"({"messages":[{"role":"user","content":"hi"}]})",
                              "application/json");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 401);
    auto l = client(key).Get("/v1/memory/documents");
    EXPECT_EQ(l->status, 401);
  }
  auto ro = client("kro").Post("/v1/memory/documents", R"({"text":"x"})", "application/json");
  EXPECT_EQ(ro->status, 403);
  auto wrong_ns = client("ka").Post("/v1/memory/documents", R"({"text":"x","namespace":"B"})", "application/json");
  EXPECT_EQ(wrong_ns->status, 403);
}

TEST_F(ServerTest, NamespacesNeverLeak) {
  const auto a = add("ka", {"alpha one two three .", "alpha four five six .", "alpha seven eight ."});
  const auto b = add("kb", {"beta one two three .", "beta four five six ."});
  const std::set<int64_t> A(a.begin(), a.end()), B(b.begin(), b.end());
  ASSERT_EQ(A.size(), 3u);
  ASSERT_EQ(B.size(), 2u);
  for (int i = 0; i < 3; ++i) {
    json ca = chat("ka", "what is one two three ?");
    for (int64_t d : selected_docs(ca)) EXPECT_TRUE(A.count(d)) << "key A saw document " << d;
    for (const auto& c : ca["msa"]["citations"]) EXPECT_TRUE(A.count(c["doc_id"].get<int64_t>()));
    json cb = chat("kb", "what is one two three ?");
    for (int64_t d : selected_docs(cb)) EXPECT_TRUE(B.count(d)) << "key B saw document " << d;
  }
  EXPECT_EQ(selected_docs(chat("kall", "what is one two three ?")).size(), 5u);
  // Reads by id and lists respect namespaces too (404, not 403: existence is not revealed).
  EXPECT_EQ(client("ka").Get("/v1/memory/documents/" + std::to_string(b[0]))->status, 404);
  EXPECT_EQ(client("kb").Get("/v1/memory/documents/" + std::to_string(b[0]))->status, 200);
  EXPECT_EQ(client("ka").Delete("/v1/memory/documents/" + std::to_string(b[0]))->status, 404);
  auto l = json::parse(client("ka").Get("/v1/memory/documents?limit=10")->body);
  EXPECT_EQ(l["total"], 3);
  for (const auto& d : l["data"]) EXPECT_EQ(d["namespace"], "A");
  // A request may narrow to its own namespaces but not widen.
  auto r = client("ka").Post("/v1/chat/completions",
                             R"({"messages":[{"role":"user","content":"q"}],"msa":{"namespaces":["B"]}})",
                             "application/json");
  EXPECT_EQ(r->status, 403);
}

TEST_F(ServerTest, BadRequestsGetClearErrors) {
  auto c = client("ka");
  auto bad = c.Post("/v1/chat/completions", "{not json", "application/json");
  EXPECT_EQ(bad->status, 400);
  EXPECT_NE(json::parse(bad->body)["error"]["message"].get<std::string>().find("JSON"), std::string::npos);
  EXPECT_EQ(c.Post("/v1/chat/completions", R"({"messages":[]})", "application/json")->status, 400);
  EXPECT_EQ(c.Post("/v1/chat/completions", R"({"messages":[{"role":"user","content":"q"}],"max_tokens":100000})",
                   "application/json")->status, 400);
  std::string longq;
  for (int i = 0; i < 200; ++i) longq += "alpha ";
  auto lq = c.Post("/v1/chat/completions", json{{"messages", {{{"role", "user"}, {"content", longq}}}}}.dump(),
                   "application/json");
  EXPECT_EQ(lq->status, 400);
  EXPECT_NE(lq->body.find("limit is 64"), std::string::npos);
  auto big = c.Post("/v1/memory/documents", json{{"text", std::string(100 << 10, 'x')}}.dump(), "application/json");
  EXPECT_EQ(big->status, 413);
  EXPECT_EQ(c.Post("/v1/memory/documents", R"({"documents":[{"txt":"x"}]})", "application/json")->status, 400);
  EXPECT_EQ(c.Get("/v1/memory/documents?limit=0")->status, 400);
  EXPECT_EQ(c.Put("/v1/memory/documents/99999", R"({"text":"x"})", "application/json")->status, 404);
}

TEST_F(ServerTest, StreamsServerSentEvents) {
  add("ka", {"the magic number for red fox is 4821 ."});
  auto r = client("ka").Post("/v1/chat/completions",
                             R"({"messages":[{"role":"user","content":"what ?"}],"stream":true,"max_tokens":8})",
                             "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->get_header_value("Content-Type"), "text/event-stream");
  EXPECT_EQ(r->body.rfind("data: [DONE]\n\n"), r->body.size() - 14);
  // Every event but [DONE] is a chat.completion.chunk; the last carries the provenance.
  size_t pos = 0, events = 0;
  json last;
  while ((pos = r->body.find("data: ", pos)) != std::string::npos) {
    const size_t end = r->body.find("\n\n", pos);
    const std::string payload = r->body.substr(pos + 6, end - pos - 6);
    pos = end;
    if (payload == "[DONE]") break;
    last = json::parse(payload);
    EXPECT_EQ(last["object"], "chat.completion.chunk");
    ++events;
  }
  EXPECT_GE(events, 2u);
  EXPECT_TRUE(last.contains("msa"));
  EXPECT_TRUE(last["choices"][0]["finish_reason"].is_string());
}

TEST_F(ServerTest, SixteenConcurrentClientsGetConsistentAnswers) {
  add("ka", {"alpha one two three .", "alpha four five six ."});
  const std::string ref = chat("ka", "what is one two three ?")["choices"][0]["message"]["content"];
  std::vector<std::future<std::pair<int, std::string>>> fs;
  for (int i = 0; i < 16; ++i)
    fs.push_back(std::async(std::launch::async, [&] {
      int status = 0;
      json j = chat("ka", "what is one two three ?", &status);
      return std::make_pair(status, status == 200 ? j["choices"][0]["message"]["content"].get<std::string>() : "");
    }));
  for (auto& f : fs) {
    auto [status, answer] = f.get();
    EXPECT_EQ(status, 200);
    EXPECT_EQ(answer, ref);  // greedy: identical under concurrency
  }
}

TEST_F(ServerTest, WritesAreVisibleToTheNextQuestion) {
  const auto ids = add("ka", {"alpha one two three ."});
  EXPECT_EQ(selected_docs(chat("ka", "q ?")), std::set<int64_t>{ids[0]});
  const auto more = add("ka", {"alpha four five six ."});
  EXPECT_EQ(selected_docs(chat("ka", "q ?")), (std::set<int64_t>{ids[0], more[0]}));
  // Update: same id, new version and text.
  auto u = client("ka").Put("/v1/memory/documents/" + std::to_string(ids[0]), R"({"text":"gamma nine ."})",
                            "application/json");
  ASSERT_EQ(u->status, 200) << u->body;
  EXPECT_EQ(json::parse(u->body)["version"], 2);
  auto g = json::parse(client("ka").Get("/v1/memory/documents/" + std::to_string(ids[0]))->body);
  EXPECT_EQ(g["text"], "gamma nine .");
  EXPECT_EQ(client("ka").Delete("/v1/memory/documents/" + std::to_string(more[0]))->status, 200);
  EXPECT_EQ(selected_docs(chat("ka", "q ?")), std::set<int64_t>{ids[0]});
}

TEST_F(ServerTest, StopCompletesRequestsInFlight) {
  add("ka", {"alpha one two three ."});
  // The question is in flight (held inside its memory snapshot) while a write
  // is acknowledged and the server is told to stop.
  auto in_flight = gated_->arm();
  auto pending = std::async(std::launch::async, [&] {
    int status = 0;
    chat("ka", "what is one two three ?", &status);
    return status;
  });
  in_flight.wait();
  const auto late = add("ka", {"late write ."});
  ASSERT_EQ(late.size(), 1u);
  server_->stop();  // returns at once; the request in flight is still held
  gated_->release();
  EXPECT_EQ(pending.get(), 200);
  thread_.join();  // serve() returns once the request in flight completed
  thread_ = std::thread([] {});
  // The acknowledged write is committed: a fresh open of the bank (the writer
  // closed first) sees it.
  server_.reset();
  gated_.reset();
  service_.reset();
  memory::BankOpenOptions bo;
  bo.model_dir = model_dir_.string();
  const auto reopened = memory::Bank::open(bank_dir_.string(), bo);
  const auto doc = reopened->document(late[0]);
  ASSERT_TRUE(doc.has_value()) << "document " << late[0] << " is not in the reopened bank";
  EXPECT_EQ(doc->text, "late write .");
}


// Issue 18 item 2 over HTTP: a path crafted to close the label and start a new
// line, and many distinct unknown paths, add one "other" series and no line.
TEST_F(ServerTest, MetricsLabelOnlyKnownRoutes) {
  for (int i = 0; i < 20; ++i) client().Get("/probe" + std::to_string(i));
  ASSERT_TRUE(client().Get("/x%22%7D%201%0Afake_metric%201"));
  std::string metrics;
  for (int i = 0; i < 100; ++i) {  // the access logger counts after the response is sent
    metrics = client().Get("/metrics")->body;
    if (metrics.find("endpoint=\"GET other\",status=\"404\"} 21") != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_NE(metrics.find("endpoint=\"GET other\",status=\"404\"} 21"), std::string::npos) << metrics;
  EXPECT_EQ(metrics.find("\nfake_metric"), std::string::npos) << metrics;
  EXPECT_EQ(metrics.find("probe"), std::string::npos) << metrics;
}

// Issue 18 item 3 over HTTP: a document longer than the model reads is a 400
// naming both numbers, before any encoding (it would hold the writer for hours).
TEST_F(ServerTest, LongDocumentIsRefusedNamingTheLimit) {
  std::string text;
  for (int i = 0; i < 5000; ++i) text += " word" + std::to_string(i % 10);
  auto r = client("ka").Post("/v1/memory/documents", json{{"documents", {{{"text", text}}}}}.dump(), "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400) << r->body;
  EXPECT_NE(r->body.find("the model reads at most 4096 (max_position_embeddings)"), std::string::npos) << r->body;
  EXPECT_EQ(service_->stats().documents, 0);
}

// --ops-require-key: /health and /metrics need a valid key like every endpoint.
TEST_F(ServerTest, OpsEndpointsCanRequireAKey) {
  server::ServerOptions so;
  so.ops_require_key = true;
  server::Server locked(model_, tok_, *gated_, server::ApiKeys::load(keys_file_.string()), so);
  const int port = locked.bind("127.0.0.1", 0);
  std::thread t([&] { locked.serve(); });
  for (const char* path : {"/health", "/metrics"}) {
    httplib::Client anonymous("127.0.0.1", port), keyed("127.0.0.1", port);
    keyed.set_bearer_token_auth("kro");
    auto r = anonymous.Get(path);
    ASSERT_TRUE(r) << path;
    EXPECT_EQ(r->status, 401) << path;
    r = keyed.Get(path);
    ASSERT_TRUE(r) << path;
    EXPECT_EQ(r->status, 200) << path;
  }
  EXPECT_EQ(client().Get("/health")->status, 200);  // the default stays open
  locked.stop();
  t.join();
}

}  // namespace
