// The memory API of `msa serve` (issue 16): documents addressable by external
// id (GET / PUT = create or new version / DELETE), POST of a taken external
// id → 409 with the existing id, Idempotency-Key retries, PUT applying (or
// refusing) metadata and namespace, and long documents stored as passages
// with their provenance. Random tiny model.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include "server_fixture.h"

namespace {

using namespace server_test;

class MemoryApi : public ServerTest {
 protected:
  httplib::Result post(const std::string& key, const json& body, const std::string& idem = "") {
    httplib::Headers h;
    if (!idem.empty()) h.emplace("Idempotency-Key", idem);
    return client(key).Post("/v1/memory/documents", h, body.dump(), "application/json");
  }
  static std::string by_eid(const std::string& eid) {
    std::string enc;
    for (unsigned char c : eid)
      enc += std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~' ? std::string(1, char(c))
                                                                           : fmt::format("%{:02X}", c);
    return "/v1/memory/documents/by-external-id/" + enc;
  }
  static std::string long_text() {
    std::string t;
    for (int i = 0; i < 12; ++i) t += "the magic number for item " + std::to_string(i) + " is " + std::to_string(4000 + i) + ". ";
    return t;
  }
};

TEST_F(MemoryApi, PostOfATakenExternalIdIs409WithTheExistingId) {
  auto first = post("ka", {{"id", "note-1"}, {"text", "alpha one ."}});
  ASSERT_EQ(first->status, 201) << first->body;
  const int64_t id = json::parse(first->body)["data"][0]["id"];
  auto again = post("ka", {{"id", "note-1"}, {"text", "alpha two ."}});
  ASSERT_EQ(again->status, 409) << again->body;
  const json e = json::parse(again->body)["error"];
  EXPECT_EQ(e["code"], "external_id_exists");
  EXPECT_EQ(e["existing_id"], id);
  EXPECT_EQ(e["param"], "id");
  // Nothing was written by the refused POST.
  EXPECT_EQ(json::parse(client("ka").Get(by_eid("note-1"))->body)["data"][0]["text"], "alpha one .");
  // Another key's namespace: still 409 (ids are unique per bank), without revealing the document.
  auto other = post("kb", {{"id", "note-1"}, {"text", "beta ."}});
  EXPECT_EQ(other->status, 409);
  EXPECT_FALSE(json::parse(other->body)["error"].contains("existing_id"));
}

TEST_F(MemoryApi, IdempotencyKeyMakesARetriedPostReturnTheFirstResult) {
  const json body = {{"documents", {{{"text", "alpha one ."}}, {{"text", "alpha two ."}}}}};
  auto a = post("ka", body, "retry-1");
  ASSERT_EQ(a->status, 201);
  auto b = post("ka", body, "retry-1");
  ASSERT_EQ(b->status, 201);
  EXPECT_EQ(a->body, b->body);
  EXPECT_EQ(b->get_header_value("Idempotent-Replayed"), "true");
  EXPECT_EQ(json::parse(client("ka").Get("/v1/memory/documents")->body)["total"], 2) << "written once";
  // The same key with another body is refused; another API key has its own keys.
  EXPECT_EQ(post("ka", {{"text", "other ."}}, "retry-1")->status, 422);
  EXPECT_EQ(post("kall", body, "retry-1")->status, 201);
  // A refused request is remembered too: the retry gets the same 409.
  ASSERT_EQ(post("ka", {{"id", "x"}, {"text", "one ."}})->status, 201);
  auto c1 = post("ka", {{"id", "x"}, {"text", "two ."}}, "retry-2");
  auto c2 = post("ka", {{"id", "x"}, {"text", "two ."}}, "retry-2");
  EXPECT_EQ(c1->status, 409);
  EXPECT_EQ(c2->status, 409);
  EXPECT_EQ(c1->body, c2->body);
}

TEST_F(MemoryApi, ByExternalIdGetPutDelete) {
  EXPECT_EQ(client("ka").Get(by_eid("docs/a.md"))->status, 404);
  // PUT creates (201) …
  auto c = client("ka").Put(by_eid("docs/a.md"), R"({"text":"alpha one .","metadata":{"k":1}})", "application/json");
  ASSERT_EQ(c->status, 201) << c->body;
  const int64_t id = json::parse(c->body)["data"][0]["id"];
  EXPECT_EQ(json::parse(c->body)["data"][0]["namespace"], "A") << "the key's first namespace";
  // … then writes a new version under the same id (200), idempotently.
  for (int i = 0; i < 2; ++i) {
    auto u = client("ka").Put(by_eid("docs/a.md"), R"({"text":"alpha two ."})", "application/json");
    ASSERT_EQ(u->status, 200) << u->body;
    EXPECT_EQ(json::parse(u->body)["data"][0]["id"], id);
  }
  auto g = json::parse(client("ka").Get(by_eid("docs/a.md"))->body);
  EXPECT_EQ(g["data"][0]["text"], "alpha two .");
  EXPECT_EQ(g["data"][0]["metadata"], json({{"k", 1}})) << "metadata kept when not given";
  EXPECT_EQ(g["data"][0]["version"], 3);
  // Invisible to another namespace's key: 404 to read or delete, 409 to write.
  EXPECT_EQ(client("kb").Get(by_eid("docs/a.md"))->status, 404);
  EXPECT_EQ(client("kb").Delete(by_eid("docs/a.md"))->status, 404);
  EXPECT_EQ(client("kb").Put(by_eid("docs/a.md"), R"({"text":"x ."})", "application/json")->status, 409);
  auto d = client("ka").Delete(by_eid("docs/a.md"));
  ASSERT_EQ(d->status, 200);
  EXPECT_EQ(json::parse(d->body)["deleted"], 1);
  EXPECT_EQ(client("ka").Get(by_eid("docs/a.md"))->status, 404);
  EXPECT_EQ(client("ka").Get("/v1/memory/documents/" + std::to_string(id))->status, 404);
}

TEST_F(MemoryApi, PutAppliesOrRefusesMetadataAndNamespace) {
  const int64_t id = json::parse(post("kall", {{"text", "alpha one ."}, {"namespace", "A"}, {"metadata", {{"v", 1}}}})->body)["data"][0]["id"];
  const std::string path = "/v1/memory/documents/" + std::to_string(id);
  auto u = client("kall").Put(path, R"({"text":"alpha two .","metadata":{"v":2},"namespace":"B"})", "application/json");
  ASSERT_EQ(u->status, 200) << u->body;
  const json g = json::parse(client("kall").Get(path)->body);
  EXPECT_EQ(g["metadata"], json({{"v", 2}}));
  EXPECT_EQ(g["namespace"], "B");
  EXPECT_EQ(client("ka").Get(path)->status, 404) << "moved out of A";
  EXPECT_EQ(client("kb").Get(path)->status, 200) << "moved into B";
  // A key may not move a document into a namespace it does not have; bad fields are named.
  auto forbidden = client("kb").Put(path, R"({"text":"x .","namespace":"A"})", "application/json");
  EXPECT_EQ(forbidden->status, 403);
  EXPECT_EQ(json::parse(forbidden->body)["error"]["param"], "namespace");
  auto bad = client("kb").Put(path, R"({"text":"x .","metadata":"nope"})", "application/json");
  EXPECT_EQ(bad->status, 400);
  EXPECT_EQ(json::parse(bad->body)["error"]["param"], "metadata");
  auto unknown = client("kb").Put(path, R"({"text":"x .","tags":["a"]})", "application/json");
  EXPECT_EQ(unknown->status, 400);
  EXPECT_EQ(json::parse(unknown->body)["error"]["param"], "tags");
  // metadata: null clears it.
  ASSERT_EQ(client("kb").Put(path, R"({"text":"x .","metadata":null})", "application/json")->status, 200);
  const json cleared = json::parse(client("kb").Get(path)->body);
  EXPECT_TRUE(!cleared.contains("metadata") || cleared["metadata"].empty()) << cleared;
}

TEST_F(MemoryApi, LongDocumentsBecomePassagesWithProvenance) {
  const std::string text = long_text();
  auto r = post("ka", {{"id", "guide"}, {"text", text}, {"metadata", {{"author", "ana"}}}});
  ASSERT_EQ(r->status, 201) << r->body;
  const json data = json::parse(r->body)["data"];
  ASSERT_GT(data.size(), 1u);
  for (size_t i = 0; i < data.size(); ++i) {
    EXPECT_EQ(data[i]["external_id"], "guide#p" + std::to_string(i));
    EXPECT_EQ(data[i]["passage"]["source"], "guide");
    EXPECT_EQ(data[i]["passage"]["index"], i);
    EXPECT_EQ(data[i]["passage"]["count"], data.size());
    EXPECT_EQ(data[i]["metadata"]["author"], "ana");
  }
  // The list shows the provenance; the source reads back in passage order with its text ranges.
  const json list = json::parse(client("ka").Get("/v1/memory/documents")->body);
  EXPECT_EQ(list["total"], data.size());
  EXPECT_TRUE(list["data"][0].contains("passage"));
  const json src = json::parse(client("ka").Get(by_eid("guide"))->body);
  for (const auto& d : src["data"]) {
    const size_t b = d["passage"]["chars"][0], e = d["passage"]["chars"][1];
    EXPECT_EQ(text.substr(b, e - b), d["text"]);
  }
  // POST of the source again: 409 (the passages exist); PUT replaces them all.
  EXPECT_EQ(post("ka", {{"id", "guide"}, {"text", "short ."}})->status, 409);
  auto u = client("ka").Put(by_eid("guide"), R"({"text":"now short ."})", "application/json");
  ASSERT_EQ(u->status, 200) << u->body;
  EXPECT_EQ(json::parse(u->body)["data"].size(), 1u);
  EXPECT_EQ(json::parse(client("ka").Get("/v1/memory/documents")->body)["total"], 1);
  // Citations name the passage's document (external id guide, now one document).
  const json chat_r = chat("ka", "what is the magic number for item 3 ?");
  for (const auto& c : chat_r["msa"]["citations"]) EXPECT_EQ(c["external_id"], "guide");
}

}  // namespace
