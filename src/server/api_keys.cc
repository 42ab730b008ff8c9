#include "server/api_keys.h"

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.h"

namespace msa::server {

bool KeyGrant::may_access(const std::string& ns) const {
  return std::find(namespaces.begin(), namespaces.end(), ns) != namespaces.end() ||
         std::find(namespaces.begin(), namespaces.end(), "*") != namespaces.end();
}

ApiKeys ApiKeys::open_access() { return ApiKeys(); }

ApiKeys ApiKeys::load(const std::string& path) {
  std::ifstream f(path);
  MSA_CHECK(f.good(), "cannot read API key file '{}'", path);
  nlohmann::json j = nlohmann::json::parse(f, nullptr, false);
  MSA_CHECK(!j.is_discarded() && j.is_object() && j.contains("keys") && j["keys"].is_array(),
            "{}: expected a JSON object {{\"keys\": [...]}}", path);
  ApiKeys k;
  k.enabled_ = true;
  size_t i = 0;
  for (const auto& e : j["keys"]) {
    MSA_CHECK(e.is_object() && e.contains("key") && e["key"].is_string() && !e["key"].get<std::string>().empty(),
              "{}: keys[{}] needs a non-empty string \"key\"", path, i);
    MSA_CHECK(e.contains("namespaces") && e["namespaces"].is_array() && !e["namespaces"].empty(),
              "{}: keys[{}] needs a non-empty \"namespaces\" array", path, i);
    KeyGrant g;
    for (const auto& ns : e["namespaces"]) {
      MSA_CHECK(ns.is_string(), "{}: keys[{}].namespaces must hold strings", path, i);
      g.namespaces.push_back(ns.get<std::string>());
    }
    if (e.contains("write")) {
      MSA_CHECK(e["write"].is_boolean(), "{}: keys[{}].write must be true or false", path, i);
      g.write = e["write"].get<bool>();
    }
    MSA_CHECK(k.keys_.emplace(e["key"].get<std::string>(), g).second, "{}: keys[{}] repeats a key", path, i);
    ++i;
  }
  return k;
}

std::optional<KeyGrant> ApiKeys::authorize(const std::string& header) const {
  if (!enabled_) return KeyGrant{{"*"}, true};
  const std::string prefix = "Bearer ";
  if (header.rfind(prefix, 0) != 0) return std::nullopt;
  auto it = keys_.find(header.substr(prefix.size()));
  if (it == keys_.end()) return std::nullopt;
  return it->second;
}

}  // namespace msa::server
