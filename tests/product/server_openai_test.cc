// OpenAI parity of `msa serve` (issue 16) with a plain HTTP client: streamed
// deltas join to exactly the non-streamed content, finish_reason and the usage
// chunk, /v1/models, every request field working or refused with a 400
// naming it, errors in OpenAI's shape, opt-in CORS, multi-turn messages, and
// a port in use. Random tiny model: the plumbing, not answer quality (the
// random model rarely answers; answered parity and stop sequences on real
// answers are checked with the embedded model in openai_client_test.cc).
#include <gtest/gtest.h>

#include "server_fixture.h"

namespace {

using namespace server_test;

// Parses an SSE body into its JSON events (without [DONE]); *done: saw [DONE].
std::vector<json> sse_events(const std::string& body, bool* done) {
  std::vector<json> out;
  size_t pos = 0;
  *done = false;
  while ((pos = body.find("data: ", pos)) != std::string::npos) {
    const size_t end = body.find("\n\n", pos);
    const std::string payload = body.substr(pos + 6, end - pos - 6);
    pos = end;
    if (payload == "[DONE]") {
      *done = true;
      break;
    }
    out.push_back(json::parse(payload));
  }
  return out;
}

class OpenAIParity : public ServerTest {
 protected:
  httplib::Result post_chat(const json& body, const std::string& key = "ka") {
    return client(key).Post("/v1/chat/completions", body.dump(), "application/json");
  }
  static json user(const std::string& q) { return json::array({{{"role", "user"}, {"content", q}}}); }
};

TEST_F(OpenAIParity, StreamedDeltasJoinToTheNonStreamedContent) {
  add("ka", {"the magic number for red fox is 4821 .", "alpha one two three ."});
  // Several lengths: capped early (no answer), and longer runs.
  for (int max_tokens : {1, 3, 12, 40}) {
    json req = {{"model", "msa"}, {"messages", user("what is the magic number for red fox ?")}, {"max_tokens", max_tokens}};
    auto full = post_chat(req);
    ASSERT_EQ(full->status, 200) << full->body;
    const json f = json::parse(full->body);
    const std::string content = f["choices"][0]["message"]["content"];
    req["stream"] = true;
    req["stream_options"] = {{"include_usage", true}};
    auto st = post_chat(req);
    ASSERT_EQ(st->status, 200);
    bool done = false;
    const auto events = sse_events(st->body, &done);
    EXPECT_TRUE(done);
    std::string joined;
    json finish;
    int finishes = 0;
    for (size_t i = 0; i < events.size(); ++i) {
      const json& e = events[i];
      EXPECT_EQ(e["object"], "chat.completion.chunk");
      EXPECT_EQ(e["id"], events[0]["id"]);
      if (e["choices"].empty()) {  // the usage chunk: last, and only with include_usage
        EXPECT_EQ(i, events.size() - 1);
        EXPECT_EQ(e["usage"], f["usage"]);
        continue;
      }
      const json& c = e["choices"][0];
      if (c["delta"].contains("content")) joined += c["delta"]["content"].get<std::string>();
      if (!c["finish_reason"].is_null()) finish = c["finish_reason"], ++finishes;
    }
    EXPECT_TRUE(events.back()["choices"].empty()) << "usage chunk";
    EXPECT_EQ(joined, content) << max_tokens;
    EXPECT_EQ(finishes, 1);
    EXPECT_EQ(finish, f["choices"][0]["finish_reason"]);
    // No answer is said as such, streamed or not.
    EXPECT_EQ(f["msa"]["answered"], !content.empty());
    if (content.empty()) {
      EXPECT_EQ(f["choices"][0]["finish_reason"], "no_answer");
    }
    EXPECT_EQ(content.find("<|im_end|>"), std::string::npos);
  }
  // Without include_usage there is no usage chunk.
  auto st = post_chat({{"messages", user("q ?")}, {"stream", true}, {"max_tokens", 4}});
  bool done = false;
  for (const auto& e : sse_events(st->body, &done)) EXPECT_FALSE(e["choices"].empty());
}

TEST_F(OpenAIParity, ModelsListTheLoadedModelWithLimitsAndMemory) {
  add("ka", {"alpha one two three ."});
  auto l = client("ka").Get("/v1/models");
  ASSERT_EQ(l->status, 200);
  const json j = json::parse(l->body);
  EXPECT_EQ(j["object"], "list");
  ASSERT_EQ(j["data"].size(), 1u);
  const json& m = j["data"][0];
  EXPECT_EQ(m["id"], "msa");
  EXPECT_EQ(m["object"], "model");
  EXPECT_TRUE(m["created"].is_number_integer());
  EXPECT_EQ(m["msa"]["max_question_tokens"], 64);
  EXPECT_EQ(m["msa"]["max_tokens_limit"], 64);
  EXPECT_EQ(m["msa"]["passage_tokens"], 16);
  EXPECT_GT(m["msa"]["context_length"].get<int64_t>(), 0);
  EXPECT_EQ(m["msa"]["memory"]["documents"], 1);
  auto one = client("ka").Get("/v1/models/msa");
  ASSERT_EQ(one->status, 200);
  EXPECT_EQ(json::parse(one->body)["id"], "msa");
  auto none = client("ka").Get("/v1/models/gpt-4o");
  EXPECT_EQ(none->status, 404);
  EXPECT_EQ(json::parse(none->body)["error"]["code"], "model_not_found");
  EXPECT_EQ(client("nope").Get("/v1/models")->status, 401);
}

TEST_F(OpenAIParity, EveryFieldWorksOrIsRefusedByName) {
  // Refused, with the field in error.param and OpenAI's error shape.
  const std::vector<std::pair<json, std::string>> refused = {
      {{{"n", 2}}, "n"},
      {{{"tools", json::array({{{"type", "function"}, {"function", {{"name", "f"}}}}})}}, "tools"},
      {{{"tool_choice", "auto"}}, "tool_choice"},
      {{{"logprobs", true}}, "logprobs"},
      {{{"top_logprobs", 2}}, "top_logprobs"},
      {{{"presence_penalty", 0.5}}, "presence_penalty"},
      {{{"frequency_penalty", 1}}, "frequency_penalty"},
      {{{"logit_bias", {{"17", 5}}}}, "logit_bias"},
      {{{"response_format", {{"type", "json_object"}}}}, "response_format"},
      {{{"stop", json::array({"a", "b", "c", "d", "e"})}}, "stop"},
      {{{"top_p", 0}}, "top_p"},
      {{{"seed", "x"}}, "seed"},
      {{{"temperature", 3}}, "temperature"},
      {{{"user", 5}}, "user"},
      {{{"stream_options", {{"include_usage", true}}}}, "stream_options"},  // without stream
      {{{"frobnicate", 1}}, "frobnicate"},
      {{{"max_completion_tokens", 0}}, "max_completion_tokens"},
  };
  for (const auto& [extra, param] : refused) {
    json req = {{"messages", user("q ?")}, {"max_tokens", 4}};
    req.update(extra);
    auto r = post_chat(req);
    ASSERT_EQ(r->status, 400) << req.dump() << " → " << r->body;
    const json e = json::parse(r->body)["error"];
    EXPECT_EQ(e["param"], param) << r->body;
    EXPECT_EQ(e["type"], "invalid_request_error");
    EXPECT_TRUE(e["message"].is_string());
    EXPECT_TRUE(e.contains("code") && (e["code"].is_string() || e["code"].is_null()));
    EXPECT_NE(e["message"].get<std::string>().find(param), std::string::npos) << e;
  }
  // Accepted, and they work: stop ends the answer, seed + temperature reproduce, user/n=1/tool_choice none pass.
  json ok = {{"model", "msa"},         {"messages", user("q ?")}, {"max_tokens", 8}, {"temperature", 1.0},
             {"top_p", 0.5},           {"seed", 7},               {"user", "u-1"},  {"n", 1},
             {"tool_choice", "none"},  {"tools", json::array()},  {"stop", "zzz"},  {"logprobs", false},
             {"presence_penalty", 0},  {"response_format", {{"type", "text"}}}, {"parallel_tool_calls", false}};
  auto a = post_chat(ok), b = post_chat(ok);
  ASSERT_EQ(a->status, 200) << a->body;
  EXPECT_EQ(json::parse(a->body)["choices"], json::parse(b->body)["choices"]) << "same seed, same output";
  EXPECT_EQ(json::parse(a->body)["msa"]["tokens"], json::parse(b->body)["msa"]["tokens"]);
  // Wrong model: 404 model_not_found; empty question: 400 everywhere.
  auto wm = post_chat({{"model", "gpt-4o"}, {"messages", user("q ?")}});
  EXPECT_EQ(wm->status, 404);
  EXPECT_EQ(json::parse(wm->body)["error"]["code"], "model_not_found");
  EXPECT_EQ(post_chat({{"messages", user("   ")}})->status, 400);
  EXPECT_EQ(post_chat({{"messages", json::array({{{"role", "user"}, {"content", "q"}}, {{"role", "assistant"}, {"content", "a"}}})}})->status, 400);
  auto img = post_chat({{"messages", json::array({{{"role", "user"},
                                                   {"content", json::array({{{"type", "image_url"}, {"image_url", "x"}}})}}})}});
  EXPECT_EQ(img->status, 400);
  EXPECT_EQ(json::parse(img->body)["error"]["param"], "messages[0].content[0].type");
  // Auth and rate errors have the same shape.
  auto unauth = post_chat({{"messages", user("q ?")}}, "nope");
  EXPECT_EQ(unauth->status, 401);
  EXPECT_EQ(json::parse(unauth->body)["error"]["code"], "invalid_api_key");
  auto nf = client("ka").Get("/v1/nothing");
  EXPECT_EQ(nf->status, 404);
  EXPECT_TRUE(json::parse(nf->body)["error"].contains("param"));
}

TEST_F(OpenAIParity, EarlierTurnsReachTheModelAndRoutingUsesTheLatestQuestion) {
  add("ka", {"alpha one two three .", "beta four five six .", "gamma seven eight ."});
  const std::string q = "what is four five six ?";
  const json single = json::parse(post_chat({{"messages", user(q)}, {"max_tokens", 6}})->body);
  const json multi = json::parse(
      post_chat({{"messages", json::array({{{"role", "system"}, {"content", "be brief"}},
                                          {{"role", "user"}, {"content", "what is one two three ?"}},
                                          {{"role", "assistant"}, {"content", "alpha"}},
                                          {{"role", "user"}, {"content", q}}})},
                 {"max_tokens", 6}})
          ->body);
  ASSERT_TRUE(multi.contains("msa")) << multi;
  EXPECT_EQ(multi["msa"]["conversation"]["turns_used"], 3);
  EXPECT_EQ(multi["msa"]["conversation"]["turns_dropped"], 0);
  EXPECT_EQ(single["msa"]["conversation"]["turns_used"], 0);
  // Round 1 routes on the latest question alone: the same selection and scores.
  EXPECT_EQ(multi["msa"]["rounds"][0]["selected"], single["msa"]["rounds"][0]["selected"]);
  // A history longer than the budget keeps the newest turns.
  json long_history = json::array();
  for (int i = 0; i < 20; ++i) {
    long_history.push_back({{"role", "user"}, {"content", "question number " + std::to_string(i) + " ?"}});
    long_history.push_back({{"role", "assistant"}, {"content", "answer " + std::to_string(i)}});
  }
  long_history.push_back({{"role", "user"}, {"content", q}});
  const json lh = json::parse(post_chat({{"messages", long_history}, {"max_tokens", 4}})->body);
  EXPECT_GT(lh["msa"]["conversation"]["turns_dropped"].get<int>(), 0);
  EXPECT_EQ(lh["msa"]["conversation"]["turns_used"].get<int>() + lh["msa"]["conversation"]["turns_dropped"].get<int>(), 40);
}

TEST_F(OpenAIParity, APortInUseIsAStartupError) {
  server::ServerOptions so;
  server::Server second(model_, tok_, *service_, server::ApiKeys::open_access(), so);
  try {
    second.bind("127.0.0.1", port_);
    FAIL() << "a second server bound a port in use";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("in use"), std::string::npos) << e.what();
  }
}

class CorsTest : public OpenAIParity {
 protected:
  std::string cors_origin() const override { return "https://app.example"; }
};

TEST_F(CorsTest, OptInCorsAnswersPreflightAndTagsResponses) {
  httplib::Headers h = {{"Origin", "https://app.example"},
                        {"Access-Control-Request-Method", "POST"},
                        {"Access-Control-Request-Headers", "authorization, content-type, x-stainless-os"}};
  auto pre = client().Options("/v1/chat/completions", h);
  ASSERT_TRUE(pre);
  EXPECT_EQ(pre->status, 204);
  EXPECT_EQ(pre->get_header_value("Access-Control-Allow-Origin"), "https://app.example");
  EXPECT_NE(pre->get_header_value("Access-Control-Allow-Headers").find("x-stainless-os"), std::string::npos);
  auto m = client("ka").Get("/v1/models");
  EXPECT_EQ(m->get_header_value("Access-Control-Allow-Origin"), "https://app.example");
}

TEST_F(OpenAIParity, NoCorsUnlessAskedFor) {
  auto m = client("ka").Get("/v1/models");
  EXPECT_FALSE(m->has_header("Access-Control-Allow-Origin"));
}

}  // namespace
