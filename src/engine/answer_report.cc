#include "engine/answer_report.h"

#include <limits>
#include <map>

namespace msa::engine {

StageTimings stage_timings(const InterleaveResult& r) {
  StageTimings t;
  for (const auto& round : r.rounds)
    for (const auto& l : round.routing) t.route_ms += l.route_ms;
  t.prefill_ms = std::max(0.0, r.route_prefill_ms - t.route_ms);
  t.decode_ms = r.decode_ms;
  return t;
}

std::string snippet(const std::string& text, size_t max_bytes) {
  if (text.size() <= max_bytes) return text;
  size_t cut = max_bytes;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;  // no split code point
  return text.substr(0, cut) + "\xE2\x80\xA6";
}

nlohmann::json answer_to_json(const InterleaveResult& r, const DocumentInfoFn& info) {
  using nlohmann::json;
  json out;
  out["answer"] = r.answer;
  out["answered"] = !r.answer.empty();  // false: the model gave no answer (msa ask exits 3)
  std::map<int64_t, float> best;  // best routing score of every selected document
  json rounds = json::array();
  for (const auto& round : r.rounds) {
    json sel = json::object();
    for (const auto& l : round.routing) {
      json docs = json::array();
      for (const auto& s : l.selected) {
        docs.push_back(json::array({s.doc, s.score}));
        auto [it, fresh] = best.emplace(s.doc, s.score);
        if (!fresh) it->second = std::max(it->second, s.score);
      }
      sel[std::to_string(l.layer)] = docs;
    }
    rounds.push_back({{"generated_doc_ids", round.generated_doc_ids}, {"selected", sel}});
  }
  out["rounds"] = rounds;
  json cites = json::array();
  for (int64_t id : r.cited_doc_ids) {
    auto d = info(id);
    if (!d) continue;  // never reveal documents the caller cannot see
    auto it = best.find(id);
    json c = {{"doc_id", id},
              {"external_id", d->external_id},
              {"score", it == best.end() ? json(nullptr) : json(it->second)},
              {"snippet", snippet(d->text)}};
    if (!d->metadata_json.empty()) {
      const json m = json::parse(d->metadata_json, nullptr, false);
      if (m.is_object() && m.contains("passage")) c["passage"] = m["passage"];
    }
    cites.push_back(std::move(c));
  }
  out["citations"] = cites;
  out["tokens"] = {{"prompt", r.prompt_tokens}, {"generated", r.generated_tokens}};
  const StageTimings t = stage_timings(r);
  out["timings_ms"] = {{"route", t.route_ms}, {"prefill", t.prefill_ms}, {"decode", t.decode_ms}};
  out["stop_reason"] = r.stop_reason;
  return out;
}

}  // namespace msa::engine
