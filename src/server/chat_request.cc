#include "server/chat_request.h"

#include "server/server.h"

namespace msa::server {

using nlohmann::json;

std::string parse_chat_request(const std::string& body, const model::Tokenizer& tok, const ServerOptions& opts,
                               ChatRequest* out) {
  json j = json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return "request body is not a JSON object";
  if (!j.contains("messages") || !j["messages"].is_array() || j["messages"].empty())
    return "\"messages\" must be a non-empty array";
  // MSA answers one question over its memory: the last user message is the question.
  const json* last_user = nullptr;
  for (const auto& m : j["messages"]) {
    if (!m.is_object() || !m.contains("role") || !m["role"].is_string()) return "every message needs a string \"role\"";
    if (m["role"] == "user") last_user = &m;
  }
  if (!last_user) return "no message with role \"user\"";
  const json& c = (*last_user).value("content", json());
  if (c.is_string()) {
    out->question = c.get<std::string>();
  } else if (c.is_array()) {  // [{"type": "text", "text": "..."}]
    for (const auto& part : c)
      if (part.is_object() && part.value("type", "") == "text" && part.contains("text") && part["text"].is_string())
        out->question += part["text"].get<std::string>();
  } else {
    return "the user message's \"content\" must be a string or an array of text parts";
  }
  if (out->question.find_first_not_of(" \t\r\n") == std::string::npos) return "the question is empty";
  const int64_t qt = int64_t(tok.encode(out->question, /*parse_special=*/false).size());
  if (qt > opts.max_question_tokens)
    return "the question is " + std::to_string(qt) + " tokens; the limit is " + std::to_string(opts.max_question_tokens);
  out->stream = j.value("stream", false);
  out->max_tokens = opts.default_max_tokens;
  for (const char* key : {"max_tokens", "max_completion_tokens"}) {
    if (!j.contains(key) || j[key].is_null()) continue;
    if (!j[key].is_number_integer() || j[key].get<int64_t>() < 1) return std::string("\"") + key + "\" must be a positive integer";
    out->max_tokens = j[key].get<int64_t>();
    if (out->max_tokens > opts.max_tokens_limit)
      return std::string("\"") + key + "\" is " + std::to_string(out->max_tokens) + "; the limit is " +
             std::to_string(opts.max_tokens_limit);
  }
  if (j.contains("temperature") && !j["temperature"].is_null()) {
    if (!j["temperature"].is_number() || j["temperature"].get<double>() < 0 || j["temperature"].get<double>() > 2)
      return "\"temperature\" must be a number in [0, 2]";
    out->temperature = j["temperature"].get<float>();
  }
  if (j.contains("msa")) {
    const json& m = j["msa"];
    if (!m.is_object()) return "\"msa\" must be an object";
    if (m.contains("namespaces")) {
      if (!m["namespaces"].is_array()) return "\"msa.namespaces\" must be an array of strings";
      for (const auto& n : m["namespaces"]) {
        if (!n.is_string()) return "\"msa.namespaces\" must be an array of strings";
        out->namespaces.push_back(n.get<std::string>());
      }
    }
  }
  return "";
}

std::string parse_documents_request(const std::string& body, const KeyGrant& grant,
                                    std::vector<engine::NewDocumentRequest>* out) {
  json j = json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return "request body is not a JSON object";
  json list = j.contains("documents") ? j["documents"] : json::array({j});
  if (!list.is_array() || list.empty()) return "\"documents\" must be a non-empty array";
  // A key limited to some namespaces writes to its first one by default.
  const std::string default_ns = grant.namespaces.empty() || grant.namespaces[0] == "*" ? "default" : grant.namespaces[0];
  size_t i = 0;
  for (const auto& d : list) {
    const std::string where = "documents[" + std::to_string(i++) + "]";
    if (!d.is_object() || !d.contains("text") || !d["text"].is_string() || d["text"].get<std::string>().empty())
      return where + " needs a non-empty string \"text\"";
    engine::NewDocumentRequest r;
    r.text = d["text"].get<std::string>();
    if (d.contains("id")) {
      if (d["id"].is_string()) r.external_id = d["id"].get<std::string>();
      else if (d["id"].is_number_integer()) r.external_id = std::to_string(d["id"].get<int64_t>());
      else return where + ".id must be a string or an integer";
    }
    r.ns = default_ns;
    if (d.contains("namespace")) {
      if (!d["namespace"].is_string() || d["namespace"].get<std::string>().empty()) return where + ".namespace must be a non-empty string";
      r.ns = d["namespace"].get<std::string>();
    }
    if (!grant.may_access(r.ns)) return "403:this API key may not write namespace '" + r.ns + "'";
    if (d.contains("metadata")) {
      if (!d["metadata"].is_object()) return where + ".metadata must be an object";
      r.metadata_json = d["metadata"].dump();
    }
    out->push_back(std::move(r));
  }
  return "";
}

const char* finish_reason(const engine::InterleaveResult& r) {
  return r.stop_reason == "answer" || r.stop_reason == "eos" ? "stop" : "length";
}

json chat_completion_json(const std::string& id, int64_t created, const std::string& model,
                          const engine::InterleaveResult& r, const json& msa) {
  return {{"id", id},
          {"object", "chat.completion"},
          {"created", created},
          {"model", model},
          {"choices", json::array({{{"index", 0},
                                    {"message", {{"role", "assistant"}, {"content", r.answer}}},
                                    {"finish_reason", finish_reason(r)}}})},
          {"usage",
           {{"prompt_tokens", r.prompt_tokens},
            {"completion_tokens", r.generated_tokens},
            {"total_tokens", r.prompt_tokens + r.generated_tokens}}},
          {"msa", msa}};
}

json chat_chunk_json(const std::string& id, int64_t created, const std::string& model, const json& delta,
                     const char* finish) {
  return {{"id", id},
          {"object", "chat.completion.chunk"},
          {"created", created},
          {"model", model},
          {"choices", json::array({{{"index", 0}, {"delta", delta},
                                    {"finish_reason", finish ? json(finish) : json(nullptr)}}})}};
}

}  // namespace msa::server
