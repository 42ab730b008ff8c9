#include "engine/bank_report.h"

namespace msa::engine {

using nlohmann::json;

json bank_stats_json(const memory::BankStats& s) {
  const double tok = s.tokens > 0 ? double(s.tokens) : 1.0;
  return {{"generation", s.generation},
          {"documents", s.documents},
          {"stored_versions", s.stored_versions},
          {"tokens", s.tokens},
          {"chunks", s.chunks},
          {"stored_chunks", s.stored_chunks},
          {"segments", s.segments},
          {"routing_partitions", s.partitions},
          {"bytes",
           {{"ram_routing", s.ram_routing_bytes},
            {"disk_routing", s.disk_routing_bytes},
            {"mmap_content", s.disk_content_bytes},
            {"template", s.disk_template_bytes},
            {"catalog", s.disk_catalog_bytes},
            {"disk_total", s.disk_total_bytes}}},
          {"bytes_per_token",
           {{"ram_routing", double(s.ram_routing_bytes) / tok},
            {"mmap_content", double(s.disk_content_bytes) / tok},
            {"disk_total", double(s.disk_total_bytes) / tok}}},
          {"serve_rss_bytes", s.serve_ram_bytes},
          {"process_rss_bytes", s.process_rss_bytes}};
}

json bank_document_json(const memory::DocumentInfo& d) {
  json o{{"id", d.doc_id}, {"version", d.version}, {"namespace", d.ns}, {"tokens", d.num_tokens},
         {"chunks", d.num_chunks}};
  if (!d.external_id.empty()) o["external_id"] = d.external_id;
  if (!d.metadata.empty()) o["metadata"] = json::parse(d.metadata, nullptr, false);
  return o;
}

}  // namespace msa::engine
