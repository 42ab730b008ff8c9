#include "memory/bank_manifest.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "core/error.h"

namespace msa::memory {

using nlohmann::json;

std::string hex64(uint64_t v) { return fmt::format("{:016x}", v); }

std::string serialize_manifest(const Manifest& m) {
  json j;
  j["format"] = "msa-bank";
  j["version"] = bankfmt::kFormatVersion;
  j["generation"] = m.generation;
  j["model"] = {{"config_xxh64", m.model.config_xxh64},
                {"weights_fingerprint", m.model.weights_fingerprint},
                {"tokenizer_xxh64", m.model.tokenizer_xxh64},
                {"model_dir", m.model.model_dir},
                {"routing_layers", m.model.num_slots},
                {"kv_heads", m.model.kv_heads},
                {"head_dim", m.model.head_dim},
                {"pooling", m.model.pooling}};
  j["storage"] = {{"routing_keys", bankfmt::vec_type_name(m.rk_type)},
                  {"content_k", bankfmt::vec_type_name(m.k_type)},
                  {"content_v", bankfmt::vec_type_name(m.v_type)}};
  j["template"] = {{"file", m.template_file}, {"bytes", m.template_bytes}};
  j["next_segment_id"] = m.next_segment_id;
  json segs = json::array();
  for (auto& s : m.segments)
    segs.push_back({{"id", s.id}, {"file", s.file}, {"bytes", s.bytes}, {"docs", s.docs},
                    {"chunks", s.chunks}, {"tokens", s.tokens}});
  j["segments"] = segs;
  std::string body = j.dump(1) + "\n";
  return body + "xxh64 " + hex64(bankfmt::xxh64(body.data(), body.size())) + "\n";
}

namespace {

// A file name the bank itself would write: no directories, no dot files.
bool safe_name(const std::string& s) {
  if (s.empty() || s.size() > 128 || s[0] == '.') return false;
  for (char c : s)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.')) return false;
  return true;
}

}  // namespace

Manifest parse_manifest(std::string_view text, const std::string& name) {
  // Trailer: the last line is "xxh64 <hex>".
  MSA_CHECK(text.size() >= 24 && text.back() == '\n', "{}: truncated manifest", name);
  const size_t nl = text.rfind('\n', text.size() - 2);
  MSA_CHECK(nl != std::string_view::npos, "{}: manifest has no checksum line", name);
  const std::string_view body = text.substr(0, nl + 1), trailer = text.substr(nl + 1);
  MSA_CHECK(trailer.size() == 6 + 16 + 1 && trailer.substr(0, 6) == "xxh64 ", "{}: bad checksum line", name);
  MSA_CHECK(std::string(trailer.substr(6, 16)) == hex64(bankfmt::xxh64(body.data(), body.size())),
            "{}: manifest checksum mismatch (the file is corrupt)", name);
  Manifest m;
  try {
    const json j = json::parse(body);
    MSA_CHECK(j.at("format") == "msa-bank", "{}: not an msa bank manifest", name);
    MSA_CHECK(j.at("version").get<uint32_t>() == bankfmt::kFormatVersion,
              "{}: unsupported bank format version {}", name, j.at("version").dump());
    m.generation = j.at("generation").get<uint64_t>();
    const json& mo = j.at("model");
    m.model.config_xxh64 = mo.at("config_xxh64").get<std::string>();
    m.model.weights_fingerprint = mo.at("weights_fingerprint").get<std::string>();
    m.model.tokenizer_xxh64 = mo.at("tokenizer_xxh64").get<std::string>();
    m.model.model_dir = mo.at("model_dir").get<std::string>();
    m.model.num_slots = mo.at("routing_layers").get<int64_t>();
    m.model.kv_heads = mo.at("kv_heads").get<int64_t>();
    m.model.head_dim = mo.at("head_dim").get<int64_t>();
    m.model.pooling = mo.at("pooling").get<int64_t>();
    MSA_CHECK(m.model.num_slots >= 1 && m.model.kv_heads >= 1 && m.model.head_dim >= 1 && m.model.pooling >= 1,
              "{}: bad model geometry", name);
    const json& st = j.at("storage");
    m.rk_type = bankfmt::parse_vec_type(st.at("routing_keys").get<std::string>());
    m.k_type = bankfmt::parse_vec_type(st.at("content_k").get<std::string>());
    m.v_type = bankfmt::parse_vec_type(st.at("content_v").get<std::string>());
    m.template_file = j.at("template").at("file").get<std::string>();
    m.template_bytes = j.at("template").at("bytes").get<uint64_t>();
    MSA_CHECK(safe_name(m.template_file), "{}: bad template file name '{}'", name, m.template_file);
    m.next_segment_id = j.at("next_segment_id").get<uint64_t>();
    for (const json& s : j.at("segments")) {
      ManifestSegment x;
      x.id = s.at("id").get<uint64_t>();
      x.file = s.at("file").get<std::string>();
      x.bytes = s.at("bytes").get<uint64_t>();
      x.docs = s.at("docs").get<uint64_t>();
      x.chunks = s.at("chunks").get<uint64_t>();
      x.tokens = s.at("tokens").get<uint64_t>();
      MSA_CHECK(safe_name(x.file), "{}: bad segment file name '{}'", name, x.file);
      MSA_CHECK(x.id < m.next_segment_id, "{}: segment id {} >= next_segment_id {}", name, x.id,
                m.next_segment_id);
      m.segments.push_back(std::move(x));
    }
  } catch (const json::exception& e) {
    throw_error("{}: bad manifest: {}", name, e.what());
  }
  return m;
}

}  // namespace msa::memory
