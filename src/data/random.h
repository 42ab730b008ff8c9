// Portable random helpers for the generators. std::uniform_int_distribution and
// std::shuffle produce different sequences on different standard libraries;
// these depend only on std::mt19937_64, whose output the standard fixes, so a
// seed gives the same data everywhere.
#pragma once

#include <cstdint>
#include <limits>
#include <random>
#include <utility>
#include <vector>

namespace msa::data {

// Uniform in [0, n), n > 0 (rejection sampling: no modulo bias).
inline uint64_t uniform_below(std::mt19937_64& rng, uint64_t n) {
  const uint64_t max = std::numeric_limits<uint64_t>::max();
  const uint64_t limit = max - max % n;  // accept x < limit: a whole number of copies of [0, n)
  uint64_t x;
  do {
    x = rng();
  } while (x >= limit);
  return x % n;
}

// Uniform in [lo, hi] (inclusive), lo <= hi.
inline int64_t uniform_int(std::mt19937_64& rng, int64_t lo, int64_t hi) {
  return lo + int64_t(uniform_below(rng, uint64_t(hi - lo) + 1));
}

// True with probability num/den.
inline bool chance(std::mt19937_64& rng, uint64_t num, uint64_t den) { return uniform_below(rng, den) < num; }

// Fisher-Yates.
template <typename T>
void shuffle_in_place(std::vector<T>& v, std::mt19937_64& rng) {
  for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[uniform_below(rng, i)]);
}

template <typename T>
const T& pick(const std::vector<T>& v, std::mt19937_64& rng) {
  return v[uniform_below(rng, v.size())];
}

// A well-mixed 64-bit seed for a named stream of a user seed (splitmix64 finaliser).
inline uint64_t stream_seed(uint64_t seed, uint64_t stream) {
  uint64_t z = seed + 0x9E3779B97F4A7C15ull * (stream + 1);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

}  // namespace msa::data
