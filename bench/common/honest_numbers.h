// Rules every benchmark figure follows (issue 18), header-only so the tests
// can check them without the benchmark programs:
//   * a ratio to a limit needs a limit: a probe that returned 0 (an ISA probe
//     without AVX-512, a failed peer run) or a non-finite value makes the ratio
//     an error naming the probe, never inf;
//   * decode bandwidth counts the bytes decode streams, not the checkpoint;
//   * a scaling efficiency above 1 is never published without its explanation.
#pragma once

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

#include "model/model.h"
#include "model/weights.h"

namespace msa::bench {

// num / den, or nullopt when den is not a positive finite number (or num is not finite).
inline std::optional<double> checked_ratio(double num, double den) {
  if (!(den > 0) || !std::isfinite(den) || !std::isfinite(num)) return std::nullopt;
  return num / den;
}

// checked_ratio or exit(1) with "bench: error: <what>: limit probe returned <den>".
inline double require_ratio(double num, double den, const char* what) {
  if (auto r = checked_ratio(num, den)) return *r;
  std::fprintf(stderr, "bench: error: %s: the limit probe returned %g (measured %g); no ratio is published\n", what,
               den, num);
  std::exit(1);
}

// Weight bytes one decode step streams: every tensor except the router
// projections (read only when routing, at prefill) and the input embedding
// (one row per token) unless it doubles as the lm_head.
inline double decode_streamed_bytes(const model::Model& m) {
  double bytes = 0;
  const auto& ck = *m.weights().checkpoint;
  for (const auto& n : ck.names()) {
    if (n.find("router_q_proj") != std::string::npos || n.find("router_k_proj") != std::string::npos) continue;
    if (n == "model.embed_tokens.weight" && !m.weights().lm_head_tied) continue;
    bytes += double(ck.find(n)->nbytes);
  }
  return bytes;
}

struct Efficiency {
  double value = 0;
  std::string note;  // non-empty when value > 1: why it is not a super-linear speedup
};
// rps_many ÷ (c_eff × rps_one); nullopt when the single-client rate or c_eff is 0.
inline std::optional<Efficiency> scaling_efficiency(double rps_many, double rps_one, int c_eff) {
  auto r = checked_ratio(rps_many, double(c_eff) * rps_one);
  if (!r) return std::nullopt;
  Efficiency e{*r, {}};
  if (e.value > 1.0)
    e.note =
        "efficiency above 1: one request at a time does not keep the cores busy (serial stretches such as "
        "tokenisation, sampling, JSON and the client's round trip, and per-op threading too small to scale), so "
        "the single-client rate understates the machine; concurrent requests fill those gaps. This is not a "
        "super-linear speedup of the engine";
  return e;
}

}  // namespace msa::bench
