// API keys → namespaces (the bank's permission model, issue 7). A key reads
// and writes only its namespaces. File format (docs/api.md): JSON
//   {"keys": [{"key": "sk-...", "namespaces": ["team-a", "public"], "write": true}]}
#pragma once

#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace msa::server {

struct KeyGrant {
  std::vector<std::string> namespaces;
  bool write = true;
  bool may_access(const std::string& ns) const;
};

class ApiKeys {
 public:
  static ApiKeys open_access();                // no --api-keys: every request is allowed
  static ApiKeys load(const std::string& path);  // throws msa::Error naming the file/entry
  bool enabled() const { return enabled_; }
  // The grant for an "Authorization: Bearer <key>" header value; nullopt = refuse.
  std::optional<KeyGrant> authorize(const std::string& authorization_header) const;

 private:
  bool enabled_ = false;
  std::unordered_map<std::string, KeyGrant> keys_;
};

}  // namespace msa::server
