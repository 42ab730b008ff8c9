// Next-token choice from logits: greedy (temperature 0, the reference's
// setting) or temperature + nucleus (top-p) sampling with a seeded RNG.
#pragma once

#include <cstdint>
#include <random>
#include <vector>

namespace msa::engine {

struct SamplerOptions {
  float temperature = 0.0f;  // 0 ⇒ greedy
  float top_p = 0.9f;
  uint64_t seed = 42;
};

// Index of the largest logit; ties go to the lowest id.
int32_t argmax(const float* logits, int64_t n);

class Sampler {
 public:
  explicit Sampler(SamplerOptions o = {}) : o_(o), rng_(o.seed) {}
  int32_t sample(const std::vector<float>& logits);

 private:
  SamplerOptions o_;
  std::mt19937_64 rng_;
};

}  // namespace msa::engine
