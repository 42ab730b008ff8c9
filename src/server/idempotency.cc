#include "server/idempotency.h"

#include <functional>

namespace msa::server {

IdempotencyStore::Claim IdempotencyStore::claim(const std::string& key, const std::string& body,
                                                StoredResponse* stored) {
  const uint64_t h = std::hash<std::string>{}(body);
  std::lock_guard<std::mutex> l(mu_);
  auto it = entries_.find(key);
  if (it != entries_.end()) {
    if (it->second.body_hash != h) return Claim::kOtherBody;
    if (!it->second.done) return Claim::kInProgress;
    *stored = it->second.response;
    return Claim::kReplay;
  }
  entries_[key] = Entry{h, false, {}};
  order_.push_back(key);
  while (order_.size() > capacity_) {
    auto old = entries_.find(order_.front());
    if (old != entries_.end() && !old->second.done) break;  // never forget a request in flight
    if (old != entries_.end()) entries_.erase(old);
    order_.pop_front();
  }
  return Claim::kFirst;
}

void IdempotencyStore::complete(const std::string& key, StoredResponse r) {
  std::lock_guard<std::mutex> l(mu_);
  auto it = entries_.find(key);
  if (it == entries_.end()) return;
  it->second.done = true;
  it->second.response = std::move(r);
}

void IdempotencyStore::abandon(const std::string& key) {
  std::lock_guard<std::mutex> l(mu_);
  entries_.erase(key);
  for (auto it = order_.begin(); it != order_.end(); ++it)
    if (*it == key) {
      order_.erase(it);
      break;
    }
}

}  // namespace msa::server
