#include "engine/sampler.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace msa::engine {

int32_t argmax(const float* logits, int64_t n) {
  int64_t best = 0;
  for (int64_t i = 1; i < n; ++i)
    if (logits[i] > logits[best]) best = i;
  return int32_t(best);
}

int32_t Sampler::sample(const std::vector<float>& logits) {
  const int64_t n = int64_t(logits.size());
  if (o_.temperature <= 0.0f) return argmax(logits.data(), n);
  const float mx = *std::max_element(logits.begin(), logits.end());
  std::vector<std::pair<float, int32_t>> p(static_cast<size_t>(n));
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) {
    const float e = std::exp((logits[size_t(i)] - mx) / o_.temperature);
    p[size_t(i)] = {e, int32_t(i)};
    sum += e;
  }
  std::sort(p.begin(), p.end(), [](auto& a, auto& b) { return a.first > b.first || (a.first == b.first && a.second < b.second); });
  // Smallest prefix whose mass reaches top_p (always at least one token).
  double mass = 0;
  size_t keep = 0;
  while (keep < p.size()) {
    mass += p[keep].first / sum;
    ++keep;
    if (mass >= o_.top_p) break;
  }
  std::uniform_real_distribution<double> U(0.0, mass);
  double r = U(rng_), acc = 0;
  for (size_t i = 0; i < keep; ++i) {
    acc += p[i].first / sum;
    if (r <= acc) return p[i].second;
  }
  return p[keep - 1].second;
}

}  // namespace msa::engine
