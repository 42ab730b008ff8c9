// Prometheus text-format metrics of the server (GET /metrics): request
// counters by endpoint and status, latency histograms per stage (routing,
// prefill, decode, whole request), generated-token counters and bank gauges.
// Thread-safe; cheap enough to update on every request.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace msa::server {

class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds_ms);
  void observe(double ms);
  // Appends the _bucket/_sum/_count lines of `name` with extra label text (e.g. `stage="route"`).
  void render(const std::string& name, const std::string& labels, std::string* out) const;

 private:
  std::vector<double> bounds_;
  std::vector<uint64_t> counts_;  // one per bound + the +Inf bucket
  double sum_ = 0;
  uint64_t count_ = 0;
};

class Metrics {
 public:
  Metrics();
  // endpoint: a label from endpoint_label() (other text is escaped when rendered).
  void count_request(const std::string& endpoint, int status);
  // "<METHOD> <route>" for the server's known routes ("/v1/memory/documents/{id}"
  // for any document id); every other path is "other" and every other method
  // "OTHER", so unauthenticated requests cannot add series or forge lines.
  static std::string endpoint_label(const std::string& method, const std::string& path);
  // A label value escaped per the Prometheus text format (\, ", newline).
  static std::string escape_label(const std::string& value);
  void observe_stage(const std::string& stage, double ms);  // route | prefill | decode | request
  void add_tokens(int64_t prompt, int64_t generated);
  void set_bank(int64_t documents, int64_t tokens, int64_t chunks);
  void set_in_flight(int64_t n);
  std::string render() const;

 private:
  mutable std::mutex mu_;
  std::map<std::pair<std::string, int>, uint64_t> requests_;
  std::map<std::string, Histogram> stages_;
  uint64_t prompt_tokens_ = 0, generated_tokens_ = 0;
  double decode_ms_total_ = 0;
  int64_t bank_docs_ = 0, bank_tokens_ = 0, bank_chunks_ = 0, in_flight_ = 0;
};

}  // namespace msa::server
