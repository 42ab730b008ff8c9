// `msa serve`: an HTTP server over one model and one memory (docs/api.md).
//   POST /v1/chat/completions          OpenAI-compatible, grounded in the memory
//                                      (stream: true → SSE); citations in "msa".
//   GET /v1/models, /v1/models/{id}    the loaded model, its limits, memory stats
//   POST/GET /v1/memory/documents      add (409 on a taken external id;
//                                      Idempotency-Key) / list (paged)
//   GET/PUT/DELETE /v1/memory/documents/{id}
//   GET/PUT/DELETE /v1/memory/documents/by-external-id/{eid}   (PUT = upsert)
//   GET /health, GET /metrics          liveness; Prometheus text
// Errors have OpenAI's shape {"error": {"message", "type", "param", "code"}}.
// API keys map to namespaces; every read and write is limited to the key's
// namespaces (routing never sees other documents). Limits on body size,
// question tokens, generated tokens and concurrent generations give clear 4xx
// errors. stop() is graceful: it stops accepting and waits for requests in
// flight, so every acknowledged write is committed.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "engine/interleave.h"
#include "engine/memory_service.h"
#include "model/model.h"
#include "model/tokenizer.h"
#include "server/api_keys.h"
#include "server/idempotency.h"
#include "server/metrics.h"

namespace httplib {
class Server;
}

namespace msa::server {

struct ServerOptions {
  std::string model_name = "msa";
  size_t max_body_bytes = 4 << 20;
  int64_t max_question_tokens = 1024;
  int64_t max_tokens_limit = 1024;   // largest max_tokens a request may ask for
  int64_t default_max_tokens = 256;
  int max_concurrent_generations = 4;  // more → 429
  int http_threads = 32;
  std::string cors_origin;     // "" = no CORS headers; else Access-Control-Allow-Origin (may be "*")
  int64_t passage_tokens = 0;  // reported in /v1/models (the memory splits; BankService)
  // /health and /metrics answer without a key by default (probes and scrapers
  // on a private network; they reveal counts and latencies, no text). true:
  // they need a valid API key like every other endpoint (msa serve --ops-require-key).
  bool ops_require_key = false;
  engine::InterleaveOptions interleave;  // rounds cap, top-k, ...
};

class Server {
 public:
  Server(std::shared_ptr<const model::Model> m, std::shared_ptr<const model::Tokenizer> tok,
         engine::MemoryService& memory, ApiKeys keys, ServerOptions opts);
  ~Server();
  // Binds (port 0 = any free port) and returns the bound port; throws msa::Error on failure.
  int bind(const std::string& host, int port);
  void serve();  // blocks until stop()
  void stop();   // graceful: no new connections; requests in flight complete
  Metrics& metrics() { return metrics_; }

 private:
  void routes();
  void chat_routes();
  void memory_routes();
  std::shared_ptr<const model::Model> m_;
  std::shared_ptr<const model::Tokenizer> tok_;
  engine::MemoryService& memory_;
  ApiKeys keys_;
  ServerOptions opts_;
  Metrics metrics_;
  IdempotencyStore idempotency_;
  int64_t created_ = 0;  // start time, the model's "created"
  std::atomic<int> generating_{0};
  std::atomic<bool> serving_{false}, stop_requested_{false};  // stop() before serve() is listening
  std::unique_ptr<httplib::Server> http_;
};

}  // namespace msa::server
