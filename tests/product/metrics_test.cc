// Issue 18 item 2: /metrics labels come from a fixed set of routes and are
// escaped, so an unauthenticated request can neither forge a metric line nor
// add a series per distinct path.
#include <gtest/gtest.h>

#include <set>
#include <sstream>

#include "server/metrics.h"

using msa::server::Metrics;

TEST(MetricsLabels, OnlyKnownRoutesAreLabels) {
  EXPECT_EQ(Metrics::endpoint_label("POST", "/v1/chat/completions"), "POST /v1/chat/completions");
  EXPECT_EQ(Metrics::endpoint_label("GET", "/v1/memory/documents/42"), "GET /v1/memory/documents/{id}");
  EXPECT_EQ(Metrics::endpoint_label("GET", "/v1/memory/documents/42/x"), "GET other");
  EXPECT_EQ(Metrics::endpoint_label("GET", "/x\"} 1\nfake_metric 1"), "GET other");
  EXPECT_EQ(Metrics::endpoint_label("BREW", "/health"), "OTHER /health");
}

TEST(MetricsLabels, ForgedPathsAddNoSeriesAndNoLines) {
  Metrics m;
  // What GET /x%22%7D%201%0Afake_metric%201 decodes to, and many distinct paths.
  m.count_request(Metrics::endpoint_label("GET", "/x\"} 1\nfake_metric 1"), 404);
  for (int i = 0; i < 100; ++i) m.count_request(Metrics::endpoint_label("GET", "/probe" + std::to_string(i)), 404);
  // Even a raw label (a caller that skips endpoint_label) cannot break the format.
  m.count_request("GET /y\"} 1\nforged_metric 1", 404);
  const std::string text = m.render();
  std::istringstream in(text);
  std::set<std::string> request_series;
  for (std::string line; std::getline(in, line);) {
    EXPECT_NE(line.rfind("fake_metric", 0), 0u) << line;
    EXPECT_NE(line.rfind("forged_metric", 0), 0u) << line;
    if (line.rfind("msa_requests_total{", 0) == 0) request_series.insert(line.substr(0, line.rfind(' ')));
  }
  EXPECT_EQ(request_series.size(), 2u) << text;  // "GET other" and the escaped raw label
  EXPECT_NE(text.find("msa_requests_total{endpoint=\"GET other\",status=\"404\"} 101"), std::string::npos) << text;
  EXPECT_NE(text.find("endpoint=\"GET /y\\\"} 1\\nforged_metric 1\""), std::string::npos) << text;
}
