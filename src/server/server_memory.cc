// The memory routes of `msa serve` (docs/api.md "Memory"): documents by model
// id, sources by external id (create-or-new-version with PUT), 409 on a taken
// external id, Idempotency-Key for retried POSTs.
#include <httplib.h>

#include <nlohmann/json.hpp>

#include "server/http_util.h"
#include "server/server.h"

namespace msa::server {
namespace {

using nlohmann::json;

std::string default_namespace(const KeyGrant& g) {
  return g.namespaces.empty() || g.namespaces[0] == "*" ? "default" : g.namespaces[0];
}

bool visible(const KeyGrant& g, const std::vector<engine::DocumentRecord>& docs) {
  for (const auto& d : docs)
    if (!g.may_access(d.ns)) return false;
  return true;
}

json source_json(const std::string& eid, const std::vector<engine::DocumentRecord>& docs, bool with_text) {
  json data = json::array();
  for (const auto& d : docs) data.push_back(record_json(d, with_text));
  return {{"object", "list"}, {"external_id", eid}, {"data", data}};
}

}  // namespace

void Server::memory_routes() {
  auto& h = *http_;
  // The grant of a request, or nullopt after answering 401 / 403.
  auto authorize = [this](const httplib::Request& req, httplib::Response& res, bool write) -> std::optional<KeyGrant> {
    auto g = keys_.authorize(req.get_header_value("Authorization"));
    if (!g) {
      send_error(res, 401, "invalid_request_error", "missing or invalid API key (Authorization: Bearer <key>)",
                 "invalid_api_key");
      return std::nullopt;
    }
    if (write && !g->write) {
      send_error(res, 403, "permission_error", "this API key is read-only", "read_only_key");
      return std::nullopt;
    }
    return g;
  };
  auto not_found = [](httplib::Response& res, const std::string& what) {
    send_error(res, 404, "invalid_request_error", "no " + what, "not_found");
  };

  h.Post("/v1/memory/documents", [this, authorize](const httplib::Request& req, httplib::Response& res) {
    auto grant = authorize(req, res, true);
    if (!grant) return;
    const std::string idem = req.get_header_value("Idempotency-Key");
    const std::string idem_key = req.get_header_value("Authorization") + "\n" + idem;
    if (!idem.empty()) {
      StoredResponse stored;
      switch (idempotency_.claim(idem_key, req.body, &stored)) {
        case IdempotencyStore::Claim::kReplay:
          res.set_header("Idempotent-Replayed", "true");
          res.status = stored.status;
          res.set_content(stored.body, "application/json");
          return;
        case IdempotencyStore::Claim::kInProgress:
          return send_error(res, 409, "invalid_request_error",
                            "a request with this Idempotency-Key is still in progress; retry later",
                            "idempotency_in_progress");
        case IdempotencyStore::Claim::kOtherBody:
          return send_error(res, 422, "invalid_request_error",
                            "this Idempotency-Key was used with a different request body", "idempotency_key_reused");
        case IdempotencyStore::Claim::kFirst:
          break;
      }
    }
    // Every response below is the first one for the key: remembered (a
    // refusal too, so a retry gets the same answer) unless an exception
    // escapes, which forgets the key.
    struct Finish {
      IdempotencyStore& store;
      const std::string& key;
      bool active;
      httplib::Response& res;
      bool completed = false;
      ~Finish() {
        if (!active) return;
        if (completed) store.complete(key, {res.status, res.body});
        else store.abandon(key);
      }
    } finish{idempotency_, idem_key, !idem.empty(), res};
    std::vector<engine::NewDocumentRequest> docs;
    if (auto err = parse_documents_request(req.body, *grant, &docs)) {
      send_error(res, *err);
      finish.completed = true;
      return;
    }
    const bool listed = json::parse(req.body, nullptr, false).contains("documents");
    for (size_t i = 0; i < docs.size(); ++i) {
      if (docs[i].external_id.empty()) continue;
      std::vector<engine::DocumentRecord> existing;
      try {
        existing = memory_.find_source(docs[i].external_id);
      } catch (const engine::NotSupported&) {
        break;  // a sharded bank: its shards refuse a taken external id themselves (400)
      }
      if (existing.empty()) continue;
      ApiError e = bad_request("", listed ? "documents[" + std::to_string(i) + "].id" : "id", "external_id_exists");
      e.status = 409;
      json err;
      if (visible(*grant, existing)) {
        e.message = "external id '" + docs[i].external_id + "' already exists (document " +
                    std::to_string(existing[0].id) +
                    "); PUT /v1/memory/documents/by-external-id/{eid} writes a new version";
        err = e.to_json();
        err["error"]["existing_id"] = existing[0].id;
        json ids = json::array();
        for (const auto& d : existing) ids.push_back(d.id);
        err["error"]["existing_ids"] = ids;
      } else {
        e.message = "external id '" + docs[i].external_id + "' is taken by a document this API key cannot see";
        err = e.to_json();
      }
      send_json(res, err, 409);
      finish.completed = true;
      return;
    }
    auto added = memory_.add(docs);
    json data = json::array();
    for (const auto& d : added) data.push_back(record_json(d, false));
    send_json(res, {{"object", "list"}, {"data", data}}, 201);
    finish.completed = true;
  });
  h.Get("/v1/memory/documents", [this, authorize](const httplib::Request& req, httplib::Response& res) {
    auto grant = authorize(req, res, false);
    if (!grant) return;
    int64_t offset = 0, limit = 100;
    try {
      if (req.has_param("offset")) offset = std::stoll(req.get_param_value("offset"));
      if (req.has_param("limit")) limit = std::stoll(req.get_param_value("limit"));
    } catch (const std::exception&) {
      return send_error(res, 400, "invalid_request_error", "offset and limit must be integers", "invalid_value");
    }
    if (offset < 0 || limit < 1 || limit > 1000)
      return send_error(res, 400, "invalid_request_error", "need offset >= 0 and 1 <= limit <= 1000", "invalid_value");
    std::vector<std::string> ns = grant->namespaces;
    if (req.has_param("namespace")) {
      const std::string n = req.get_param_value("namespace");
      if (!grant->may_access(n))
        return send_error(res, 403, "permission_error", "this API key may not read namespace '" + n + "'",
                          "namespace_forbidden", "namespace");
      ns = {n};
    }
    int64_t total = 0;
    json data = json::array();
    for (const auto& d : memory_.list(ns, offset, limit, &total)) data.push_back(record_json(d, false));
    send_json(res, {{"object", "list"}, {"data", data}, {"total", total}, {"offset", offset}, {"limit", limit}});
  });

  auto parse_id = [](const httplib::Request& req, int64_t* id) {
    try {
      size_t used = 0;
      *id = std::stoll(req.matches[1].str(), &used);
      return used == req.matches[1].str().size() && *id >= 0;
    } catch (const std::exception&) {
      return false;
    }
  };
  h.Get(R"(/v1/memory/documents/(\d+))", [=, this](const httplib::Request& req, httplib::Response& res) {
    auto grant = authorize(req, res, false);
    if (!grant) return;
    int64_t id = 0;
    if (!parse_id(req, &id)) return send_error(res, 400, "invalid_request_error", "bad document id", "invalid_value");
    auto d = memory_.get(id, grant->namespaces);
    if (!d) return not_found(res, "document " + std::to_string(id));
    send_json(res, record_json(*d, true));
  });
  h.Put(R"(/v1/memory/documents/(\d+))", [=, this](const httplib::Request& req, httplib::Response& res) {
    auto grant = authorize(req, res, true);
    if (!grant) return;
    int64_t id = 0;
    if (!parse_id(req, &id)) return send_error(res, 400, "invalid_request_error", "bad document id", "invalid_value");
    engine::DocumentChange c;
    if (auto err = parse_document_change(req.body, *grant, &c)) return send_error(res, *err);
    auto d = memory_.update(id, c, grant->namespaces);
    if (!d) return not_found(res, "document " + std::to_string(id));
    send_json(res, record_json(*d, false));
  });
  h.Delete(R"(/v1/memory/documents/(\d+))", [=, this](const httplib::Request& req, httplib::Response& res) {
    auto grant = authorize(req, res, true);
    if (!grant) return;
    int64_t id = 0;
    if (!parse_id(req, &id)) return send_error(res, 400, "invalid_request_error", "bad document id", "invalid_value");
    if (!memory_.remove(id, grant->namespaces)) return not_found(res, "document " + std::to_string(id));
    send_json(res, {{"id", id}, {"deleted", true}});
  });

  // Sources by external id: every passage written from it, in passage order.
  const std::string by_eid = R"(/v1/memory/documents/by-external-id/(.+))";
  h.Get(by_eid, [=, this](const httplib::Request& req, httplib::Response& res) {
    auto grant = authorize(req, res, false);
    if (!grant) return;
    const std::string eid = req.matches[1].str();
    const auto docs = memory_.find_source(eid);
    if (docs.empty() || !visible(*grant, docs)) return not_found(res, "document with external id '" + eid + "'");
    send_json(res, source_json(eid, docs, true));
  });
  h.Put(by_eid, [=, this](const httplib::Request& req, httplib::Response& res) {
    auto grant = authorize(req, res, true);
    if (!grant) return;
    const std::string eid = req.matches[1].str();
    engine::DocumentChange c;
    if (auto err = parse_document_change(req.body, *grant, &c)) return send_error(res, *err);
    const auto existing = memory_.find_source(eid);
    if (!existing.empty() && !visible(*grant, existing))
      return send_error(res, 409, "invalid_request_error",
                        "external id '" + eid + "' is taken by a document this API key cannot see", "external_id_exists");
    engine::NewDocumentRequest src;
    src.text = c.text;
    src.external_id = eid;
    src.ns = c.ns ? *c.ns : existing.empty() ? default_namespace(*grant) : "";
    if (c.metadata_json) src.metadata_json = c.metadata_json->empty() ? "{}" : *c.metadata_json;
    bool created = false;
    const auto docs = memory_.put_source(src, &created);
    send_json(res, source_json(eid, docs, false), created ? 201 : 200);
  });
  h.Delete(by_eid, [=, this](const httplib::Request& req, httplib::Response& res) {
    auto grant = authorize(req, res, true);
    if (!grant) return;
    const std::string eid = req.matches[1].str();
    const auto docs = memory_.find_source(eid);
    if (docs.empty() || !visible(*grant, docs)) return not_found(res, "document with external id '" + eid + "'");
    const int64_t n = memory_.remove_source(eid);
    send_json(res, {{"external_id", eid}, {"deleted", n}});
  });
}

}  // namespace msa::server
