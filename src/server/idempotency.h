// Idempotency-Key for POST /v1/memory/documents (docs/api.md): a retried POST
// with the same key (per API key) and the same body gets the first response
// again instead of writing twice. Bounded: the oldest entries are forgotten
// first. A key reused with another body is refused (422); a retry while the
// first request is still running gets 409.
#pragma once

#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

namespace msa::server {

struct StoredResponse {
  int status = 0;
  std::string body;
};

class IdempotencyStore {
 public:
  explicit IdempotencyStore(size_t capacity = 4096) : capacity_(capacity) {}

  enum class Claim { kFirst, kReplay, kInProgress, kOtherBody };
  // Claims `key` for a request with this body; kReplay fills *stored.
  Claim claim(const std::string& key, const std::string& body, StoredResponse* stored);
  void complete(const std::string& key, StoredResponse r);  // the first request's response
  void abandon(const std::string& key);                      // it failed before writing: forget the key

 private:
  struct Entry {
    uint64_t body_hash = 0;
    bool done = false;
    StoredResponse response;
  };
  size_t capacity_;
  std::mutex mu_;
  std::unordered_map<std::string, Entry> entries_;
  std::deque<std::string> order_;
};

}  // namespace msa::server
