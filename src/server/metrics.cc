#include "server/metrics.h"

#include <fmt/format.h>

namespace msa::server {

Histogram::Histogram(std::vector<double> bounds_ms) : bounds_(std::move(bounds_ms)), counts_(bounds_.size() + 1, 0) {}

void Histogram::observe(double ms) {
  size_t i = 0;
  while (i < bounds_.size() && ms > bounds_[i]) ++i;
  ++counts_[i];
  sum_ += ms;
  ++count_;
}

void Histogram::render(const std::string& name, const std::string& labels, std::string* out) const {
  uint64_t cum = 0;
  const std::string sep = labels.empty() ? "" : ",";
  for (size_t i = 0; i < bounds_.size(); ++i) {
    cum += counts_[i];
    *out += fmt::format("{}_bucket{{{}{}le=\"{}\"}} {}\n", name, labels, sep, bounds_[i], cum);
  }
  cum += counts_.back();
  *out += fmt::format("{}_bucket{{{}{}le=\"+Inf\"}} {}\n", name, labels, sep, cum);
  *out += fmt::format("{}_sum{{{}}} {}\n", name, labels, sum_);
  *out += fmt::format("{}_count{{{}}} {}\n", name, labels, count_);
}

Metrics::Metrics() {
  const std::vector<double> b = {1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 30000};
  for (const char* s : {"route", "prefill", "decode", "request"}) stages_.emplace(s, Histogram(b));
}

std::string Metrics::endpoint_label(const std::string& method, const std::string& path) {
  static const char* const kMethods[] = {"GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"};
  static const char* const kRoutes[] = {"/health", "/metrics", "/v1/chat/completions", "/v1/completions",
                                        "/v1/models", "/v1/memory/documents"};
  std::string m = "OTHER";
  for (const char* k : kMethods)
    if (method == k) m = k;
  std::string route = "other";
  for (const char* k : kRoutes)
    if (path == k) route = k;
  constexpr std::string_view doc = "/v1/memory/documents/", model = "/v1/models/";
  auto one_segment_after = [&](std::string_view prefix) {
    return path.size() > prefix.size() && path.compare(0, prefix.size(), prefix) == 0 &&
           path.find('/', prefix.size()) == std::string::npos;
  };
  if (one_segment_after(doc)) route = "/v1/memory/documents/{id}";
  if (one_segment_after(model)) route = "/v1/models/{id}";
  constexpr std::string_view by_eid = "/v1/memory/documents/by-external-id/";
  if (path.size() > by_eid.size() && path.compare(0, by_eid.size(), by_eid) == 0)
    route = "/v1/memory/documents/by-external-id/{eid}";
  return m + " " + route;
}

std::string Metrics::escape_label(const std::string& v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

void Metrics::count_request(const std::string& endpoint, int status) {
  std::lock_guard<std::mutex> l(mu_);
  ++requests_[{endpoint, status}];
}

void Metrics::observe_stage(const std::string& stage, double ms) {
  std::lock_guard<std::mutex> l(mu_);
  auto it = stages_.find(stage);
  if (it != stages_.end()) it->second.observe(ms);
  if (stage == "decode") decode_ms_total_ += ms;
}

void Metrics::add_tokens(int64_t prompt, int64_t generated) {
  std::lock_guard<std::mutex> l(mu_);
  prompt_tokens_ += uint64_t(prompt);
  generated_tokens_ += uint64_t(generated);
}

void Metrics::set_bank(int64_t documents, int64_t tokens, int64_t chunks) {
  std::lock_guard<std::mutex> l(mu_);
  bank_docs_ = documents;
  bank_tokens_ = tokens;
  bank_chunks_ = chunks;
}

void Metrics::set_in_flight(int64_t n) {
  std::lock_guard<std::mutex> l(mu_);
  in_flight_ = n;
}

std::string Metrics::render() const {
  std::lock_guard<std::mutex> l(mu_);
  std::string out;
  out += "# HELP msa_requests_total HTTP requests by endpoint and status.\n# TYPE msa_requests_total counter\n";
  for (const auto& [k, n] : requests_)
    out += fmt::format("msa_requests_total{{endpoint=\"{}\",status=\"{}\"}} {}\n", escape_label(k.first), k.second, n);
  out += "# HELP msa_stage_latency_ms Latency per stage of answering (route, prefill, decode) and per request.\n"
         "# TYPE msa_stage_latency_ms histogram\n";
  for (const auto& [stage, h] : stages_) h.render("msa_stage_latency_ms", fmt::format("stage=\"{}\"", stage), &out);
  out += "# TYPE msa_prompt_tokens_total counter\n" + fmt::format("msa_prompt_tokens_total {}\n", prompt_tokens_);
  out += "# TYPE msa_generated_tokens_total counter\n" + fmt::format("msa_generated_tokens_total {}\n", generated_tokens_);
  out += "# HELP msa_decode_tokens_per_second Generated tokens per second of decode time, since start.\n"
         "# TYPE msa_decode_tokens_per_second gauge\n";
  out += fmt::format("msa_decode_tokens_per_second {}\n",
                     decode_ms_total_ > 0 ? double(generated_tokens_) / (decode_ms_total_ / 1000.0) : 0.0);
  out += "# TYPE msa_bank_documents gauge\n" + fmt::format("msa_bank_documents {}\n", bank_docs_);
  out += "# TYPE msa_bank_tokens gauge\n" + fmt::format("msa_bank_tokens {}\n", bank_tokens_);
  out += "# TYPE msa_bank_chunks gauge\n" + fmt::format("msa_bank_chunks {}\n", bank_chunks_);
  out += "# TYPE msa_requests_in_flight gauge\n" + fmt::format("msa_requests_in_flight {}\n", in_flight_);
  return out;
}

}  // namespace msa::server
