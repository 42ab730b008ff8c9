// Response helpers shared by the server's route files.
#pragma once

#include <httplib.h>

#include <nlohmann/json.hpp>

#include "engine/memory_service.h"
#include "server/chat_request.h"

namespace msa::server {

inline void send_json(httplib::Response& res, const nlohmann::json& j, int status = 200) {
  res.status = status;
  res.set_content(j.dump(), "application/json");
}

inline void send_error(httplib::Response& res, const ApiError& e) { send_json(res, e.to_json(), e.status); }

inline void send_error(httplib::Response& res, int status, const std::string& type, const std::string& message,
                       const std::string& code = "", const std::string& param = "") {
  ApiError e;
  e.status = status;
  e.type = type;
  e.message = message;
  e.code = code;
  e.param = param;
  send_error(res, e);
}

inline nlohmann::json record_json(const engine::DocumentRecord& d, bool with_text) {
  nlohmann::json j = {{"id", d.id},           {"object", "memory.document"}, {"external_id", d.external_id},
                      {"namespace", d.ns},    {"version", d.version},        {"tokens", d.tokens}};
  if (!d.metadata_json.empty()) {
    j["metadata"] = nlohmann::json::parse(d.metadata_json, nullptr, false);
    if (j["metadata"].is_object() && j["metadata"].contains("passage")) j["passage"] = j["metadata"]["passage"];
  }
  if (with_text) j["text"] = d.text;
  return j;
}

}  // namespace msa::server
