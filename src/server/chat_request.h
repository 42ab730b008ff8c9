// Request parsing and response shaping for the OpenAI-compatible endpoints
// (docs/api.md). Every request field either works as OpenAI documents it or is
// refused with a 400 naming it (ApiError::param); nothing is silently ignored.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "engine/interleave.h"
#include "engine/memory_service.h"
#include "model/tokenizer.h"
#include "server/api_keys.h"

namespace msa::server {

struct ServerOptions;

// An error in OpenAI's shape: {"error": {"message", "type", "param", "code"}}.
struct ApiError {
  int status = 400;
  std::string type = "invalid_request_error";
  std::string message;
  std::string param;  // "" → null
  std::string code;   // "" → null
  nlohmann::json to_json() const;
};
ApiError bad_request(std::string message, std::string param = "", std::string code = "");

struct ChatRequest {
  std::string question;      // content of the last message (role "user")
  std::string conversation;  // earlier turns that fit the token budget, as text ("" if none)
  int turns_used = 0, turns_dropped = 0;  // earlier turns kept / dropped for the budget
  bool stream = false, include_usage = false;
  int64_t max_tokens = 0;
  float temperature = 0.f, top_p = 1.f;
  std::optional<uint64_t> seed;
  std::vector<std::string> stop;        // at most 4, OpenAI's limit
  std::vector<std::string> namespaces;  // "msa": {"namespaces": [...]}; empty = all of the key's
};

std::optional<ApiError> parse_chat_request(const std::string& body, const model::Tokenizer& tok,
                                           const ServerOptions& opts, ChatRequest* out);

// {"documents": [{"text", "id"?, "namespace"?, "metadata"?}]} or one such object.
// A namespace outside the key → 403.
std::optional<ApiError> parse_documents_request(const std::string& body, const KeyGrant& grant,
                                                std::vector<engine::NewDocumentRequest>* out);

// A PUT's {"text", "metadata"? (object or null = clear), "namespace"?}; nothing else.
std::optional<ApiError> parse_document_change(const std::string& body, const KeyGrant& grant,
                                              engine::DocumentChange* change);

// How one answer ended, for OpenAI's finish_reason and the "msa" extension.
struct Outcome {
  std::string content;     // the answer (streamed pieces join to exactly this)
  bool answered = false;   // false: the model gave no answer (content "")
  bool stop_sequence = false;
  const char* finish_reason(const engine::InterleaveResult& r) const;  // "stop" | "length" | "no_answer"
};

nlohmann::json chat_completion_json(const std::string& id, int64_t created, const std::string& model,
                                    const engine::InterleaveResult& r, const Outcome& o, const nlohmann::json& msa);
nlohmann::json chat_chunk_json(const std::string& id, int64_t created, const std::string& model,
                               const nlohmann::json& delta, const char* finish);
nlohmann::json usage_json(const engine::InterleaveResult& r);

}  // namespace msa::server
