#include "server/server.h"

#include <httplib.h>
#include <sys/socket.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/timer.h"
#include "engine/answer_stream.h"
#include "server/chat_request.h"
#include "server/http_util.h"

namespace msa::server {
namespace {

using nlohmann::json;

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

// SO_REUSEADDR only: cpp-httplib's default also sets SO_REUSEPORT, with which
// a second server binds a port in use and the kernel splits requests between
// the two processes.
void listen_socket_options(socket_t sock) {
  int yes = 1;
  setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
}


}  // namespace

Server::Server(std::shared_ptr<const model::Model> m, std::shared_ptr<const model::Tokenizer> tok,
               engine::MemoryService& memory, ApiKeys keys, ServerOptions opts)
    : m_(std::move(m)), tok_(std::move(tok)), memory_(memory), keys_(std::move(keys)), opts_(std::move(opts)),
      http_(std::make_unique<httplib::Server>()) {
  const int threads = opts_.http_threads;
  http_->new_task_queue = [threads] { return new httplib::ThreadPool(size_t(threads)); };
  http_->set_payload_max_length(opts_.max_body_bytes);
  http_->set_socket_options(listen_socket_options);
  created_ = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  routes();
  const auto s = memory_.stats();
  metrics_.set_bank(s.documents, s.tokens, s.chunks);
}

Server::~Server() = default;

int Server::bind(const std::string& host, int port) {
  int bound = port;
  if (port == 0) {
    bound = http_->bind_to_any_port(host);
    MSA_CHECK(bound > 0, "cannot bind to {} (any port): {}", host, std::strerror(errno));
  } else {
    errno = 0;
    const bool ok = http_->bind_to_port(host, port);
    const int err = errno;
    MSA_CHECK(ok, "cannot listen on {}:{}: {}", host, port,
              err == EADDRINUSE ? "the port is already in use (another msa serve?)"
              : err != 0        ? std::strerror(err)
                                : "bind failed (address not available or not permitted)");
  }
  return bound;
}

void Server::serve() {
  serving_ = true;
  if (!stop_requested_) http_->listen_after_bind();
  serving_ = false;
}

// httplib's stop() does nothing until the listen loop runs, and a listen loop
// started after it would never end: wait for it, or make serve() return at once.
void Server::stop() {
  stop_requested_ = true;
  while (serving_ && !http_->is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  http_->stop();
}

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
      if (status == 413) send_error(res, 413, "invalid_request_error", "request body too large", "request_too_large");
      else if (status == 404) send_error(res, 404, "invalid_request_error", "no such endpoint", "unknown_url");
      else send_error(res, status, status >= 500 ? "server_error" : "invalid_request_error", "request failed");
    }
  });
  h.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
    try {
      std::rethrow_exception(ep);
    } catch (const engine::NotSupported& e) {
      send_error(res, 501, "invalid_request_error", e.what(), "not_supported");
    } catch (const Error& e) {
      send_error(res, 400, "invalid_request_error", e.what());
    } catch (const std::exception& e) {
      send_error(res, 500, "server_error", e.what());
    }
  });
  if (!opts_.cors_origin.empty()) {
    h.set_post_routing_handler([this](const httplib::Request&, httplib::Response& res) {
      res.set_header("Access-Control-Allow-Origin", opts_.cors_origin);
      if (opts_.cors_origin != "*") res.set_header("Vary", "Origin");
    });
    h.Options(R"(/.*)", [](const httplib::Request& req, httplib::Response& res) {
      const std::string asked = req.get_header_value("Access-Control-Request-Headers");
      res.status = 204;
      res.set_header("Access-Control-Allow-Methods", "GET, POST, PUT, DELETE, OPTIONS");
      res.set_header("Access-Control-Allow-Headers",
                     asked.empty() ? "Authorization, Content-Type, Idempotency-Key" : asked);
      res.set_header("Access-Control-Max-Age", "600");
    });
  }

  auto authorize = [this](const httplib::Request& req, httplib::Response& res) -> std::optional<KeyGrant> {
    auto g = keys_.authorize(req.get_header_value("Authorization"));
    if (!g)
      send_error(res, 401, "invalid_request_error", "missing or invalid API key (Authorization: Bearer <key>)",
                 "invalid_api_key");
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

  auto model_json = [this] {
    const auto s = memory_.stats();
    return json{{"id", opts_.model_name},
                {"object", "model"},
                {"created", created_},
                {"owned_by", "msa"},
                {"msa",
                 {{"context_length", m_->config().max_position_embeddings},
                  {"max_question_tokens", opts_.max_question_tokens},
                  {"max_tokens_limit", opts_.max_tokens_limit},
                  {"default_max_tokens", opts_.default_max_tokens},
                  {"max_rounds", opts_.interleave.max_rounds},
                  {"top_k", opts_.interleave.engine.top_k},
                  {"passage_tokens", opts_.passage_tokens},
                  {"memory", {{"documents", s.documents}, {"tokens", s.tokens}, {"chunks", s.chunks}}}}}};
  };
  h.Get("/v1/models", [this, model_json](const httplib::Request& req, httplib::Response& res) {
    if (!keys_.authorize(req.get_header_value("Authorization")))
      return send_error(res, 401, "invalid_request_error", "missing or invalid API key (Authorization: Bearer <key>)",
                        "invalid_api_key");
    send_json(res, {{"object", "list"}, {"data", json::array({model_json()})}});
  });
  h.Get(R"(/v1/models/(.+))", [this, model_json](const httplib::Request& req, httplib::Response& res) {
    if (!keys_.authorize(req.get_header_value("Authorization")))
      return send_error(res, 401, "invalid_request_error", "missing or invalid API key (Authorization: Bearer <key>)",
                        "invalid_api_key");
    if (req.matches[1].str() != opts_.model_name)
      return send_error(res, 404, "invalid_request_error",
                        "the model '" + req.matches[1].str() + "' does not exist; this server serves '" + opts_.model_name + "'",
                        "model_not_found", "model");
    send_json(res, model_json());
  });
  chat_routes();
  memory_routes();
}

void Server::chat_routes() {
  http_->Post("/v1/chat/completions", [this](const httplib::Request& req, httplib::Response& res) {
    auto grant = keys_.authorize(req.get_header_value("Authorization"));
    if (!grant)
      return send_error(res, 401, "invalid_request_error", "missing or invalid API key (Authorization: Bearer <key>)",
                        "invalid_api_key");
    ChatRequest chat;
    if (auto err = parse_chat_request(req.body, *tok_, opts_, &chat)) return send_error(res, *err);
    std::vector<std::string> ns = grant->namespaces;
    if (!chat.namespaces.empty()) {
      for (const auto& n : chat.namespaces)
        if (!grant->may_access(n))
          return send_error(res, 403, "permission_error", "this API key may not read namespace '" + n + "'",
                            "namespace_forbidden", "msa.namespaces");
      ns = chat.namespaces;
    }
    auto slot = std::make_shared<GenerationSlot>(generating_, opts_.max_concurrent_generations);
    if (!slot->ok())
      return send_error(res, 429, "rate_limit_error",
                        "too many concurrent generations (limit " + std::to_string(opts_.max_concurrent_generations) + ")",
                        "rate_limit_exceeded");
    engine::InterleaveOptions io = opts_.interleave;
    io.max_total_tokens = chat.max_tokens;
    io.sampler.temperature = chat.temperature;
    io.sampler.top_p = chat.top_p;
    if (chat.seed) io.sampler.seed = *chat.seed;
    io.conversation = chat.conversation;
    const std::string id = "chatcmpl-" + std::to_string(std::chrono::system_clock::now().time_since_epoch().count());
    const int64_t created = std::chrono::duration_cast<std::chrono::seconds>(
                                std::chrono::system_clock::now().time_since_epoch()).count();
    // One generation, its answer stream and its provenance; `emit` receives
    // every settled piece of the answer (nothing when not streaming).
    auto run = [this, ns, io, chat](const std::function<void(const std::string&)>& emit) {
      Timer t;
      engine::AnswerStream answer(chat.stop);
      engine::InterleaveCallbacks cb;
      cb.on_text = [&](const std::string& piece, bool answering) {
        if (!answering) return;
        if (std::string s = answer.push(piece); !s.empty() && emit) emit(s);
      };
      const engine::MemorySnapshot snap = memory_.snapshot(ns);
      auto r = engine::answer_with_interleave(m_, *tok_, *snap.view, snap.text, chat.question, io, cb);
      if (std::string s = answer.finish(r.answer); !s.empty() && emit) emit(s);
      Outcome o;
      o.content = answer.answer();
      o.answered = !o.content.empty();
      o.stop_sequence = answer.stopped_by_sequence();
      json msa = engine::answer_to_json(r, snap.info);
      msa.erase("answer");
      msa["answered"] = o.answered;
      msa["conversation"] = {{"turns_used", chat.turns_used}, {"turns_dropped", chat.turns_dropped}};
      const auto st = engine::stage_timings(r);
      metrics_.observe_stage("route", st.route_ms);
      metrics_.observe_stage("prefill", st.prefill_ms);
      metrics_.observe_stage("decode", st.decode_ms);
      metrics_.observe_stage("request", t.ms());
      metrics_.add_tokens(r.prompt_tokens, r.generated_tokens);
      return std::make_tuple(std::move(r), std::move(o), std::move(msa));
    };
    if (!chat.stream) {
      auto [r, o, msa] = run({});
      send_json(res, chat_completion_json(id, created, opts_.model_name, r, o, msa));
      return;
    }
    res.set_header("Cache-Control", "no-cache");
    res.set_chunked_content_provider(
        "text/event-stream", [this, slot, run, id, created, chat](size_t, httplib::DataSink& sink) {
          auto emit = [&](const json& j) {
            const std::string s = "data: " + j.dump() + "\n\n";
            return sink.write(s.data(), s.size());
          };
          emit(chat_chunk_json(id, created, opts_.model_name, json{{"role", "assistant"}, {"content", ""}}, nullptr));
          auto [r, o, msa] = run([&](const std::string& piece) {
            emit(chat_chunk_json(id, created, opts_.model_name, json{{"content", piece}}, nullptr));
          });
          json last = chat_chunk_json(id, created, opts_.model_name, json::object(), o.finish_reason(r));
          last["msa"] = msa;
          emit(last);
          if (chat.include_usage) {
            json u = chat_chunk_json(id, created, opts_.model_name, json::object(), nullptr);
            u["choices"] = json::array();
            u["usage"] = usage_json(r);
            emit(u);
          }
          const std::string done = "data: [DONE]\n\n";
          sink.write(done.data(), done.size());
          sink.done();
          return true;
        });
  });
}

}  // namespace msa::server
