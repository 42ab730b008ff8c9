// The HTTP server over loopback with a real client: auth, namespace isolation,
// limits, streaming, concurrency, writes visible to the next question, and a
// graceful stop that completes requests in flight. Random tiny model: these
// tests check the plumbing, not answer quality.
#include <gtest/gtest.h>
#include <httplib.h>

#include <filesystem>
#include <fstream>
#include <future>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "server_fixture.h"

namespace fs = std::filesystem;
using nlohmann::json;
using namespace msa;

namespace {

using namespace server_test;

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
  auto pending = std::async(std::launch::async, [&] {
    int status = 0;
    chat("ka", "what is one two three ?", &status);
    return status;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  auto write = std::async(std::launch::async, [&] { return add("ka", {"late write ."}); });
  const auto late = write.get();
  server_->stop();
  EXPECT_EQ(pending.get(), 200);
  // The acknowledged write is committed: a fresh open of the bank sees it.
  EXPECT_TRUE(service_->get(late[0], {"*"}).has_value());
}

}  // namespace
