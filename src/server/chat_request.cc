#include "server/chat_request.h"

#include <cmath>
#include <set>

#include "server/server.h"

namespace msa::server {

using nlohmann::json;

json ApiError::to_json() const {
  return {{"error",
           {{"message", message},
            {"type", type},
            {"param", param.empty() ? json(nullptr) : json(param)},
            {"code", code.empty() ? json(nullptr) : json(code)}}}};
}

ApiError bad_request(std::string message, std::string param, std::string code) {
  ApiError e;
  e.message = std::move(message);
  e.param = std::move(param);
  e.code = std::move(code);
  return e;
}

namespace {

ApiError unsupported(const std::string& field, const std::string& why) {
  return bad_request("\"" + field + "\" is not supported by msa: " + why, field, "unsupported_parameter");
}

ApiError invalid(const std::string& field, const std::string& what) {
  return bad_request("\"" + field + "\" " + what, field, "invalid_value");
}

bool is_null_or_absent(const json& j, const char* key) { return !j.contains(key) || j[key].is_null(); }

// Text of a message's content: a string, or an array of {"type": "text", "text"} parts.
std::optional<ApiError> message_text(const json& m, const std::string& where, std::string* out) {
  if (!m.contains("content") || m["content"].is_null()) return std::nullopt;  // e.g. an assistant turn
  const json& c = m["content"];
  if (c.is_string()) {
    *out = c.get<std::string>();
    return std::nullopt;
  }
  if (!c.is_array()) return invalid(where + ".content", "must be a string or an array of text parts");
  for (size_t i = 0; i < c.size(); ++i) {
    const json& part = c[i];
    const std::string pw = where + ".content[" + std::to_string(i) + "]";
    if (!part.is_object() || !part.contains("type") || !part["type"].is_string())
      return invalid(pw, "must be an object with a string \"type\"");
    if (part["type"] != "text") return unsupported(pw + ".type", "only text parts are (got \"" + part["type"].get<std::string>() + "\")");
    if (!part.contains("text") || !part["text"].is_string()) return invalid(pw + ".text", "must be a string");
    *out += part["text"].get<std::string>();
  }
  return std::nullopt;
}

std::optional<ApiError> parse_messages(const json& msgs, const model::Tokenizer& tok, const ServerOptions& opts,
                                       ChatRequest* out) {
  if (!msgs.is_array() || msgs.empty()) return invalid("messages", "must be a non-empty array");
  struct Turn {
    std::string role, text;
  };
  std::vector<Turn> turns;
  for (size_t i = 0; i < msgs.size(); ++i) {
    const json& m = msgs[i];
    const std::string where = "messages[" + std::to_string(i) + "]";
    if (!m.is_object() || !m.contains("role") || !m["role"].is_string())
      return invalid(where + ".role", "is missing: every message needs a string \"role\"");
    const std::string role = m["role"].get<std::string>();
    if (role == "tool" || role == "function") return unsupported(where + ".role", "tools are not (no tool messages)");
    if (role != "user" && role != "assistant" && role != "system" && role != "developer")
      return invalid(where + ".role", "must be one of system, developer, user, assistant (got \"" + role + "\")");
    if (m.contains("tool_calls") && !m["tool_calls"].is_null() && !(m["tool_calls"].is_array() && m["tool_calls"].empty()))
      return unsupported(where + ".tool_calls", "tools are not");
    Turn t{role, ""};
    if (auto e = message_text(m, where, &t.text)) return e;
    turns.push_back(std::move(t));
  }
  if (turns.back().role != "user")
    return invalid("messages", "must end with a \"user\" message: the last user message is the question");
  out->question = turns.back().text;
  if (out->question.find_first_not_of(" \t\r\n") == std::string::npos)
    return invalid("messages", "ends with an empty question");
  const int64_t qt = int64_t(tok.encode(out->question, /*parse_special=*/false).size());
  if (qt > opts.max_question_tokens)
    return bad_request("the question is " + std::to_string(qt) + " tokens; the limit is " +
                           std::to_string(opts.max_question_tokens),
                       "messages", "context_length_exceeded");
  // Earlier turns, newest first, while they fit in what the question leaves of
  // the budget; older ones are dropped (reported in msa.conversation).
  int64_t budget = opts.max_question_tokens - qt;
  std::vector<std::string> kept;
  int earlier = 0;
  bool full = false;
  for (size_t i = turns.size() - 1; i-- > 0;) {
    if (turns[i].text.find_first_not_of(" \t\r\n") == std::string::npos) continue;
    ++earlier;
    if (full) continue;
    std::string line = turns[i].role + ": " + turns[i].text + "\n";
    const int64_t n = int64_t(tok.encode(line, false).size());
    if (n > budget) {
      full = true;  // older turns are dropped too: the kept ones stay contiguous
      continue;
    }
    budget -= n;
    kept.push_back(std::move(line));
  }
  out->turns_dropped = earlier - int(kept.size());
  out->turns_used = int(kept.size());
  if (!kept.empty()) {
    out->conversation = "Earlier in this conversation:\n";
    for (auto it = kept.rbegin(); it != kept.rend(); ++it) out->conversation += *it;
    out->conversation += "Question now: ";
  }
  return std::nullopt;
}

}  // namespace

std::optional<ApiError> parse_chat_request(const std::string& body, const model::Tokenizer& tok,
                                           const ServerOptions& opts, ChatRequest* out) {
  json j = json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return bad_request("request body is not a JSON object");
  static const std::set<std::string> known = {
      "model", "messages", "stream", "stream_options", "max_tokens", "max_completion_tokens", "temperature",
      "top_p", "seed", "stop", "user", "n", "tools", "tool_choice", "functions", "function_call",
      "parallel_tool_calls", "logprobs", "top_logprobs", "presence_penalty", "frequency_penalty", "logit_bias",
      "response_format", "msa"};
  for (const auto& [k, v] : j.items())
    if (!known.count(k)) return bad_request("unknown field \"" + k + "\"", k, "unknown_parameter");
  if (j.contains("model") && !j["model"].is_null()) {
    if (!j["model"].is_string()) return invalid("model", "must be a string");
    if (j["model"] != opts.model_name) {
      ApiError e = bad_request("the model '" + j["model"].get<std::string>() + "' does not exist; this server serves '" +
                                   opts.model_name + "' (GET /v1/models)",
                               "model", "model_not_found");
      e.status = 404;
      return e;
    }
  }
  if (!j.contains("messages")) return invalid("messages", "is required");
  if (auto e = parse_messages(j["messages"], tok, opts, out)) return e;

  if (!is_null_or_absent(j, "stream")) {
    if (!j["stream"].is_boolean()) return invalid("stream", "must be a boolean");
    out->stream = j["stream"].get<bool>();
  }
  if (!is_null_or_absent(j, "stream_options")) {
    if (!out->stream) return invalid("stream_options", "is only allowed when \"stream\" is true");
    const json& so = j["stream_options"];
    if (!so.is_object()) return invalid("stream_options", "must be an object");
    for (const auto& [k, v] : so.items()) {
      if (k != "include_usage") return unsupported("stream_options." + k, "only include_usage is");
      if (!v.is_boolean()) return invalid("stream_options.include_usage", "must be a boolean");
      out->include_usage = v.get<bool>();
    }
  }
  out->max_tokens = opts.default_max_tokens;
  for (const char* key : {"max_tokens", "max_completion_tokens"}) {
    if (is_null_or_absent(j, key)) continue;
    if (!j[key].is_number_integer() || j[key].get<int64_t>() < 1) return invalid(key, "must be a positive integer");
    out->max_tokens = j[key].get<int64_t>();
    if (out->max_tokens > opts.max_tokens_limit)
      return invalid(key, "is " + std::to_string(out->max_tokens) + "; the limit is " + std::to_string(opts.max_tokens_limit));
  }
  if (!is_null_or_absent(j, "temperature")) {
    if (!j["temperature"].is_number() || !(j["temperature"].get<double>() >= 0 && j["temperature"].get<double>() <= 2))
      return invalid("temperature", "must be a number in [0, 2]");
    out->temperature = j["temperature"].get<float>();
  }
  if (!is_null_or_absent(j, "top_p")) {
    if (!j["top_p"].is_number() || !(j["top_p"].get<double>() > 0 && j["top_p"].get<double>() <= 1))
      return invalid("top_p", "must be a number in (0, 1]");
    out->top_p = j["top_p"].get<float>();
  }
  if (!is_null_or_absent(j, "seed")) {
    if (!j["seed"].is_number_integer()) return invalid("seed", "must be an integer");
    out->seed = j["seed"].is_number_unsigned() ? j["seed"].get<uint64_t>() : uint64_t(j["seed"].get<int64_t>());
  }
  if (!is_null_or_absent(j, "stop")) {
    const json& s = j["stop"];
    if (s.is_string()) {
      out->stop.push_back(s.get<std::string>());
    } else if (s.is_array() && s.size() <= 4) {
      for (const auto& x : s) {
        if (!x.is_string()) return invalid("stop", "must be a string or an array of at most 4 strings");
        out->stop.push_back(x.get<std::string>());
      }
    } else {
      return invalid("stop", "must be a string or an array of at most 4 strings");
    }
    for (const auto& x : out->stop)
      if (x.empty()) return invalid("stop", "must not contain an empty string");
  }
  if (!is_null_or_absent(j, "user") && !j["user"].is_string()) return invalid("user", "must be a string");
  if (!is_null_or_absent(j, "n") && !(j["n"].is_number_integer() && j["n"].get<int64_t>() == 1))
    return unsupported("n", "one choice per request (n must be 1)");
  for (const char* key : {"tools", "functions"})
    if (!is_null_or_absent(j, key) && !(j[key].is_array() && j[key].empty())) return unsupported(key, "tools are not");
  for (const char* key : {"tool_choice", "function_call"})
    if (!is_null_or_absent(j, key) && j[key] != "none") return unsupported(key, "tools are not (only \"none\")");
  if (!is_null_or_absent(j, "parallel_tool_calls") && !j["parallel_tool_calls"].is_boolean())
    return invalid("parallel_tool_calls", "must be a boolean");
  if (!is_null_or_absent(j, "logprobs") && j["logprobs"] != false) return unsupported("logprobs", "log probabilities are not");
  if (!is_null_or_absent(j, "top_logprobs")) return unsupported("top_logprobs", "log probabilities are not");
  for (const char* key : {"presence_penalty", "frequency_penalty"})
    if (!is_null_or_absent(j, key) && !(j[key].is_number() && j[key].get<double>() == 0))
      return unsupported(key, "penalties are not (only 0)");
  if (!is_null_or_absent(j, "logit_bias") && !(j["logit_bias"].is_object() && j["logit_bias"].empty()))
    return unsupported("logit_bias", "logit biases are not");
  if (!is_null_or_absent(j, "response_format") &&
      !(j["response_format"].is_object() && j["response_format"].value("type", json()) == "text"))
    return unsupported("response_format", "only {\"type\": \"text\"} is");
  if (j.contains("msa")) {
    const json& m = j["msa"];
    if (!m.is_object()) return invalid("msa", "must be an object");
    for (const auto& [k, v] : m.items())
      if (k != "namespaces") return bad_request("unknown field \"msa." + k + "\"", "msa." + k, "unknown_parameter");
    if (m.contains("namespaces")) {
      if (!m["namespaces"].is_array()) return invalid("msa.namespaces", "must be an array of strings");
      for (const auto& n : m["namespaces"]) {
        if (!n.is_string()) return invalid("msa.namespaces", "must be an array of strings");
        out->namespaces.push_back(n.get<std::string>());
      }
    }
  }
  return std::nullopt;
}

std::optional<ApiError> parse_documents_request(const std::string& body, const KeyGrant& grant,
                                                std::vector<engine::NewDocumentRequest>* out) {
  json j = json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return bad_request("request body is not a JSON object");
  json list = j.contains("documents") ? j["documents"] : json::array({j});
  if (!list.is_array() || list.empty()) return invalid("documents", "must be a non-empty array");
  // A key limited to some namespaces writes to its first one by default.
  const std::string default_ns = grant.namespaces.empty() || grant.namespaces[0] == "*" ? "default" : grant.namespaces[0];
  size_t i = 0;
  for (const auto& d : list) {
    const std::string where = j.contains("documents") ? "documents[" + std::to_string(i++) + "]" : "";
    const std::string dot = where.empty() ? "" : where + ".";
    if (!d.is_object()) return invalid(where.empty() ? "body" : where, "must be an object");
    for (const auto& [k, v] : d.items())
      if (k != "text" && k != "id" && k != "namespace" && k != "metadata" && !(k == "documents" && where.empty()))
        return bad_request("unknown field \"" + dot + k + "\"", dot + k, "unknown_parameter");
    if (!d.contains("text") || !d["text"].is_string() || d["text"].get<std::string>().find_first_not_of(" \t\r\n") == std::string::npos)
      return invalid(dot + "text", "must be a non-empty string");
    engine::NewDocumentRequest r;
    r.text = d["text"].get<std::string>();
    if (d.contains("id")) {
      if (d["id"].is_string() && !d["id"].get<std::string>().empty()) r.external_id = d["id"].get<std::string>();
      else if (d["id"].is_number_integer()) r.external_id = std::to_string(d["id"].get<int64_t>());
      else return invalid(dot + "id", "must be a non-empty string or an integer");
    }
    r.ns = default_ns;
    if (d.contains("namespace")) {
      if (!d["namespace"].is_string() || d["namespace"].get<std::string>().empty())
        return invalid(dot + "namespace", "must be a non-empty string");
      r.ns = d["namespace"].get<std::string>();
    }
    if (!grant.may_access(r.ns)) {
      ApiError e = bad_request("this API key may not write namespace '" + r.ns + "'", dot + "namespace", "namespace_forbidden");
      e.status = 403;
      e.type = "permission_error";
      return e;
    }
    if (d.contains("metadata") && !d["metadata"].is_null()) {
      if (!d["metadata"].is_object()) return invalid(dot + "metadata", "must be an object");
      r.metadata_json = d["metadata"].dump();
    }
    out->push_back(std::move(r));
  }
  return std::nullopt;
}

std::optional<ApiError> parse_document_change(const std::string& body, const KeyGrant& grant, engine::DocumentChange* c) {
  json j = json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return bad_request("request body is not a JSON object");
  for (const auto& [k, v] : j.items())
    if (k != "text" && k != "metadata" && k != "namespace")
      return bad_request("unknown field \"" + k + "\" (a PUT takes text, metadata, namespace)", k, "unknown_parameter");
  if (!j.contains("text") || !j["text"].is_string() ||
      j["text"].get<std::string>().find_first_not_of(" \t\r\n") == std::string::npos)
    return bad_request("\"text\" must be a non-empty string", "text", "invalid_value");
  c->text = j["text"].get<std::string>();
  if (j.contains("metadata")) {
    if (j["metadata"].is_null()) c->metadata_json = "";
    else if (j["metadata"].is_object()) c->metadata_json = j["metadata"].dump();
    else return bad_request("\"metadata\" must be an object or null", "metadata", "invalid_value");
  }
  if (j.contains("namespace")) {
    if (!j["namespace"].is_string() || j["namespace"].get<std::string>().empty())
      return bad_request("\"namespace\" must be a non-empty string", "namespace", "invalid_value");
    c->ns = j["namespace"].get<std::string>();
    if (!grant.may_access(*c->ns)) {
      ApiError e = bad_request("this API key may not write namespace '" + *c->ns + "'", "namespace", "namespace_forbidden");
      e.status = 403;
      e.type = "permission_error";
      return e;
    }
  }
  return std::nullopt;
}

const char* Outcome::finish_reason(const engine::InterleaveResult& r) const {
  if (!answered) return "no_answer";
  if (stop_sequence || r.stop_reason == "answer" || r.stop_reason == "eos") return "stop";
  return "length";
}

json usage_json(const engine::InterleaveResult& r) {
  return {{"prompt_tokens", r.prompt_tokens},
          {"completion_tokens", r.generated_tokens},
          {"total_tokens", r.prompt_tokens + r.generated_tokens}};
}

json chat_completion_json(const std::string& id, int64_t created, const std::string& model,
                          const engine::InterleaveResult& r, const Outcome& o, const json& msa) {
  return {{"id", id},
          {"object", "chat.completion"},
          {"created", created},
          {"model", model},
          {"system_fingerprint", nullptr},
          {"choices", json::array({{{"index", 0},
                                    {"message", {{"role", "assistant"}, {"content", o.content}, {"refusal", nullptr}}},
                                    {"logprobs", nullptr},
                                    {"finish_reason", o.finish_reason(r)}}})},
          {"usage", usage_json(r)},
          {"msa", msa}};
}

json chat_chunk_json(const std::string& id, int64_t created, const std::string& model, const json& delta,
                     const char* finish) {
  return {{"id", id},
          {"object", "chat.completion.chunk"},
          {"created", created},
          {"model", model},
          {"system_fingerprint", nullptr},
          {"choices", json::array({{{"index", 0}, {"delta", delta}, {"logprobs", nullptr},
                                    {"finish_reason", finish ? json(finish) : json(nullptr)}}})}};
}

}  // namespace msa::server
