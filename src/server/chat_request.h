// Request parsing and response shaping for the OpenAI-compatible endpoints
// (docs/api.md). Parsers return "" on success or a message for a 400 (a
// message starting with "403:" asks for a 403).
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "engine/interleave.h"
#include "engine/memory_service.h"
#include "model/tokenizer.h"
#include "server/api_keys.h"

namespace msa::server {

struct ServerOptions;

struct ChatRequest {
  std::string question;  // content of the last "user" message
  bool stream = false;
  int64_t max_tokens = 0;
  float temperature = 0.f;
  std::vector<std::string> namespaces;  // "msa": {"namespaces": [...]}; empty = all of the key's
};

std::string parse_chat_request(const std::string& body, const model::Tokenizer& tok, const ServerOptions& opts,
                               ChatRequest* out);

// {"documents": [{"text", "id"?, "namespace"?, "metadata"?}]} or one such object.
std::string parse_documents_request(const std::string& body, const KeyGrant& grant,
                                    std::vector<engine::NewDocumentRequest>* out);

const char* finish_reason(const engine::InterleaveResult& r);  // "stop" | "length"

nlohmann::json chat_completion_json(const std::string& id, int64_t created, const std::string& model,
                                    const engine::InterleaveResult& r, const nlohmann::json& msa);
nlohmann::json chat_chunk_json(const std::string& id, int64_t created, const std::string& model,
                               const nlohmann::json& delta, const char* finish);

}  // namespace msa::server
