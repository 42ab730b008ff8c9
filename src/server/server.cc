#include "server/server.h"

#include <httplib.h>

#include <chrono>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/timer.h"
#include "server/chat_request.h"

namespace msa::server {
namespace {

using nlohmann::json;

void send_error(httplib::Response& res, int status, const std::string& type, const std::string& message) {
  res.status = status;
  res.set_content(json{{"error", {{"message", message}, {"type", type}, {"code", status}}}}.dump(),
                  "application/json");
}

void send_json(httplib::Response& res, const json& j, int status = 200) {
  res.status = status;
  res.set_content(j.dump(), "application/json");
}

json record_json(const engine::DocumentRecord& d, bool with_text) {
  json j = {{"id", d.id},         {"external_id", d.external_id}, {"namespace", d.ns},
            {"version", d.version}, {"tokens", d.tokens}};
  if (!d.metadata_json.empty()) j["metadata"] = json::parse(d.metadata_json, nullptr, false);
  if (with_text) j["text"] = d.text;
  return j;
}

// Counts a generation slot for the lifetime of a request.
class GenerationSlot {
 public:
  GenerationSlot(std::atomic<int>& n, int limit) : n_(n), ok_(n.fetch_add(1) < limit) {}
  ~GenerationSlot() { n_.fetch_sub(1); }
  bool ok() const { return ok_; }

 private:
  std::atomic<int>& n_;
  bool ok_;
};

}  // namespace

Server::Server(std::shared_ptr<const model::Model> m, std::shared_ptr<const model::Tokenizer> tok,
               engine::MemoryService& memory, ApiKeys keys, ServerOptions opts)
    : m_(std::move(m)), tok_(std::move(tok)), memory_(memory), keys_(std::move(keys)), opts_(std::move(opts)),
      http_(std::make_unique<httplib::Server>()) {
  const int threads = opts_.http_threads;
  http_->new_task_queue = [threads] { return new httplib::ThreadPool(size_t(threads)); };
  http_->set_payload_max_length(opts_.max_body_bytes);
  routes();
  const auto s = memory_.stats();
  metrics_.set_bank(s.documents, s.tokens, s.chunks);
}

Server::~Server() = default;

int Server::bind(const std::string& host, int port) {
  int bound = port;
  if (port == 0) {
    bound = http_->bind_to_any_port(host);
    MSA_CHECK(bound > 0, "cannot bind to {} (any port)", host);
  } else {
    MSA_CHECK(http_->bind_to_port(host, port), "cannot bind to {}:{} (in use or not permitted)", host, port);
  }
  return bound;
}

void Server::serve() { http_->listen_after_bind(); }

void Server::stop() { http_->stop(); }

void Server::routes() {
  auto& h = *http_;
  // Every response is counted; 413 from the payload limit included.
  h.set_logger([this](const httplib::Request& req, const httplib::Response& res) {
    // Known routes only: a raw path would let any client add series or forge lines.
    metrics_.count_request(Metrics::endpoint_label(req.method, req.path), res.status);
  });
  h.set_error_handler([](const httplib::Request&, httplib::Response& res) {
    if (res.body.empty()) {
      const int status = res.status;
      send_error(res, status, status == 413 ? "request_too_large" : "invalid_request_error",
                 status == 413 ? "request body too large" : status == 404 ? "no such endpoint" : "request failed");
    }
  });
  h.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
    try {
      std::rethrow_exception(ep);
    } catch (const Error& e) {
      send_error(res, 400, "invalid_request_error", e.what());
    } catch (const std::exception& e) {
      send_error(res, 500, "server_error", e.what());
    }
  });

  auto authorize = [this](const httplib::Request& req, httplib::Response& res) -> std::optional<KeyGrant> {
    auto g = keys_.authorize(req.get_header_value("Authorization"));
    if (!g) send_error(res, 401, "authentication_error", "missing or invalid API key (Authorization: Bearer <key>)");
    return g;
  };

  h.Get("/health", [this, authorize](const httplib::Request& req, httplib::Response& res) {
    if (opts_.ops_require_key && !authorize(req, res)) return;
    const auto s = memory_.stats();
    send_json(res, {{"status", "ok"}, {"documents", s.documents}, {"tokens", s.tokens}});
  });
  h.Get("/metrics", [this, authorize](const httplib::Request& req, httplib::Response& res) {
    if (opts_.ops_require_key && !authorize(req, res)) return;
    const auto s = memory_.stats();
    metrics_.set_bank(s.documents, s.tokens, s.chunks);
    metrics_.set_in_flight(generating_.load());
    res.set_content(metrics_.render(), "text/plain; version=0.0.4");
  });

  h.Post("/v1/chat/completions", [this, authorize](const httplib::Request& req, httplib::Response& res) {
    auto grant = authorize(req, res);
    if (!grant) return;
    ChatRequest chat;
    if (std::string err = parse_chat_request(req.body, *tok_, opts_, &chat); !err.empty())
      return send_error(res, 400, "invalid_request_error", err);
    std::vector<std::string> ns = grant->namespaces;
    if (!chat.namespaces.empty()) {
      for (const auto& n : chat.namespaces)
        if (!grant->may_access(n))
          return send_error(res, 403, "permission_error", "this API key may not read namespace '" + n + "'");
      ns = chat.namespaces;
    }
    auto slot = std::make_shared<GenerationSlot>(generating_, opts_.max_concurrent_generations);
    if (!slot->ok())
      return send_error(res, 429, "rate_limit_error",
                        "too many concurrent generations (limit " + std::to_string(opts_.max_concurrent_generations) + ")");
    engine::InterleaveOptions io = opts_.interleave;
    io.max_total_tokens = chat.max_tokens;
    io.sampler.temperature = chat.temperature;
    const std::string id = "chatcmpl-" + std::to_string(std::chrono::system_clock::now().time_since_epoch().count());
    const int64_t created = std::chrono::duration_cast<std::chrono::seconds>(
                                std::chrono::system_clock::now().time_since_epoch()).count();
    auto run = [this, ns, io, chat](const engine::InterleaveCallbacks& cb) {
      Timer t;
      const engine::MemorySnapshot snap = memory_.snapshot(ns);
      auto r = engine::answer_with_interleave(m_, *tok_, *snap.view, snap.text, chat.question, io, cb);
      json prov = engine::answer_to_json(r, snap.info);
      const auto st = engine::stage_timings(r);
      metrics_.observe_stage("route", st.route_ms);
      metrics_.observe_stage("prefill", st.prefill_ms);
      metrics_.observe_stage("decode", st.decode_ms);
      metrics_.observe_stage("request", t.ms());
      metrics_.add_tokens(r.prompt_tokens, r.generated_tokens);
      return std::make_pair(std::move(r), std::move(prov));
    };
    if (!chat.stream) {
      auto [r, prov] = run({});
      json msa = prov;
      msa.erase("answer");
      send_json(res, chat_completion_json(id, created, opts_.model_name, r, msa));
      return;
    }
    res.set_chunked_content_provider(
        "text/event-stream", [this, slot, run, id, created](size_t, httplib::DataSink& sink) {
          auto emit = [&](const json& j) {
            const std::string s = "data: " + j.dump() + "\n\n";
            return sink.write(s.data(), s.size());
          };
          emit(chat_chunk_json(id, created, opts_.model_name, json{{"role", "assistant"}}, nullptr));
          bool streamed = false;
          engine::InterleaveCallbacks cb;
          cb.on_text = [&](const std::string& piece, bool answering) {
            if (!answering) return;
            streamed = true;
            emit(chat_chunk_json(id, created, opts_.model_name, json{{"content", piece}}, nullptr));
          };
          auto [r, prov] = run(cb);
          json msa = prov;
          msa.erase("answer");
          json last = chat_chunk_json(id, created, opts_.model_name,
                                      streamed ? json::object() : json{{"content", r.answer}},
                                      finish_reason(r));
          last["msa"] = msa;
          last["answer"] = r.answer;
          emit(last);
          const std::string done = "data: [DONE]\n\n";
          sink.write(done.data(), done.size());
          sink.done();
          return true;
        });
  });

  h.Post("/v1/memory/documents", [this, authorize](const httplib::Request& req, httplib::Response& res) {
    auto grant = authorize(req, res);
    if (!grant) return;
    if (!grant->write) return send_error(res, 403, "permission_error", "this API key is read-only");
    std::vector<engine::NewDocumentRequest> docs;
    if (std::string err = parse_documents_request(req.body, *grant, &docs); !err.empty())
      return send_error(res, err.rfind("403:", 0) == 0 ? 403 : 400,
                        err.rfind("403:", 0) == 0 ? "permission_error" : "invalid_request_error",
                        err.rfind("403:", 0) == 0 ? err.substr(4) : err);
    auto added = memory_.add(docs);
    json data = json::array();
    for (const auto& d : added) data.push_back(record_json(d, false));
    send_json(res, {{"object", "list"}, {"data", data}}, 201);
  });
  h.Get("/v1/memory/documents", [this, authorize](const httplib::Request& req, httplib::Response& res) {
    auto grant = authorize(req, res);
    if (!grant) return;
    int64_t offset = 0, limit = 100;
    try {
      if (req.has_param("offset")) offset = std::stoll(req.get_param_value("offset"));
      if (req.has_param("limit")) limit = std::stoll(req.get_param_value("limit"));
    } catch (const std::exception&) {
      return send_error(res, 400, "invalid_request_error", "offset and limit must be integers");
    }
    if (offset < 0 || limit < 1 || limit > 1000)
      return send_error(res, 400, "invalid_request_error", "need offset >= 0 and 1 <= limit <= 1000");
    std::vector<std::string> ns = grant->namespaces;
    if (req.has_param("namespace")) {
      const std::string n = req.get_param_value("namespace");
      if (!grant->may_access(n)) return send_error(res, 403, "permission_error", "this API key may not read namespace '" + n + "'");
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
  h.Get(R"(/v1/memory/documents/(\d+))", [this, authorize, parse_id](const httplib::Request& req, httplib::Response& res) {
    auto grant = authorize(req, res);
    if (!grant) return;
    int64_t id = 0;
    if (!parse_id(req, &id)) return send_error(res, 400, "invalid_request_error", "bad document id");
    auto d = memory_.get(id, grant->namespaces);
    if (!d) return send_error(res, 404, "not_found_error", "no document " + std::to_string(id));
    send_json(res, record_json(*d, true));
  });
  h.Put(R"(/v1/memory/documents/(\d+))", [this, authorize, parse_id](const httplib::Request& req, httplib::Response& res) {
    auto grant = authorize(req, res);
    if (!grant) return;
    if (!grant->write) return send_error(res, 403, "permission_error", "this API key is read-only");
    int64_t id = 0;
    if (!parse_id(req, &id)) return send_error(res, 400, "invalid_request_error", "bad document id");
    json j = json::parse(req.body, nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("text") || !j["text"].is_string() ||
        j["text"].get<std::string>().empty())
      return send_error(res, 400, "invalid_request_error", "body must be a JSON object with a non-empty string \"text\"");
    auto d = memory_.update(id, j["text"].get<std::string>(), grant->namespaces);
    if (!d) return send_error(res, 404, "not_found_error", "no document " + std::to_string(id));
    send_json(res, record_json(*d, false));
  });
  h.Delete(R"(/v1/memory/documents/(\d+))", [this, authorize, parse_id](const httplib::Request& req, httplib::Response& res) {
    auto grant = authorize(req, res);
    if (!grant) return;
    if (!grant->write) return send_error(res, 403, "permission_error", "this API key is read-only");
    int64_t id = 0;
    if (!parse_id(req, &id)) return send_error(res, 400, "invalid_request_error", "bad document id");
    if (!memory_.remove(id, grant->namespaces)) return send_error(res, 404, "not_found_error", "no document " + std::to_string(id));
    send_json(res, {{"id", id}, {"deleted", true}});
  });
}

}  // namespace msa::server
