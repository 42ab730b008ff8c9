// bench_engine: encoding (stage 1) and decoding throughput of Qwen3-0.6B- and
// Qwen3-4B-shaped MSA models with random bf16 weights, each next to this
// machine's limits measured in the same run:
//   encode: achieved matmul GFLOP/s ÷ register-resident vdpbf16ps peak (all cores)
//   decode: achieved weight-read GB/s ÷ STREAM-like read bandwidth over a buffer
//           as large as the weights (the L3 this VM reports is huge).
// The checkpoints are generated once (4B: sharded) under .cache/bench-models/.
//
// usage: bench_engine [--quick] [--presets 0.6b,4b] [--cache DIR] [--encode-tokens N] [--decode-tokens N]
#include <sys/resource.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "common/honest_numbers.h"
#include "common/machine_limits.h"
#include "core/threads.h"
#include "core/timer.h"
#include "engine/session.h"
#include "kernels/matmul.h"
#include "memory/encoder.h"
#include "model/model.h"
#include "model/random_checkpoint.h"

namespace fs = std::filesystem;
using namespace msa;
using namespace msa::bench;

namespace {

struct Result {
  std::string name;
  double load_ms = 0, encode_tps = 0, encode_gflops = 0, decode_tps = 0, decode_gbs = 0;
  double weight_gb = 0;
};

double peak_rss_gb() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return double(u.ru_maxrss) / (1024.0 * 1024.0);
}

// Matmul parameters touched per token by the encoder (layers up to the last routing layer).
double encode_params_per_token(const model::ModelConfig& c) {
  const double D = double(c.hidden_size), F = double(c.intermediate_size);
  const double attn = D * double(c.q_dim()) * 2 + D * double(c.kv_dim()) * 2;
  const double mlp = 3 * D * F;
  double p = 0;
  const int last = c.msa.routing_layers.back();
  for (int l = 0; l <= last; ++l) {
    p += attn + (l < last ? mlp : 0);
    if (l == last) p -= D * double(c.q_dim());  // o_proj of the last layer is skipped
    if (c.has_router_projections(l)) p += D * double(c.kv_dim());
  }
  return p;
}

Result run_preset(const std::string& preset, const fs::path& cache, bool quick, int64_t enc_tokens,
                  int64_t dec_tokens, int threads) {
  auto cfg = model::preset_config(preset);
  std::string name = preset;
  if (quick) {  // same shapes per layer, fewer layers: a run under a minute
    cfg.num_hidden_layers = preset == "4b" ? 2 : 4;
    cfg.msa.router_layer_idx = std::to_string(cfg.num_hidden_layers - 1);
    cfg.msa.routing_layers = {int(cfg.num_hidden_layers - 1)};
    name += "-quick";
  }
  const fs::path dir = cache / (name + "-bf16");
  if (!fs::exists(dir / "config.json")) {
    std::printf("generating random %s checkpoint in %s (once) ...\n", name.c_str(), dir.c_str());
    std::fflush(stdout);
    Timer t;
    model::write_random_checkpoint(cfg, dir.string(), {DType::BF16, preset == "4b" && !quick ? 4 : 1, 1, 0.02f});
    std::printf("  done in %.1f s\n", t.seconds());
  }
  Result r;
  r.name = name;
  Timer t;
  auto m = model::Model::load(dir.string());
  r.load_ms = t.ms();
  r.weight_gb = double(m->weights().checkpoint->total_bytes()) / 1e9;
  const auto& c = m->config();

  // Encode: documents of 512 tokens packed in one batch (document-wise RoPE).
  memory::MemoryEncoder enc(*m);
  std::vector<std::vector<int32_t>> docs;
  for (int64_t done = 0; done < enc_tokens; done += 512) {
    std::vector<int32_t> d(size_t(std::min<int64_t>(512, enc_tokens - done)));
    for (size_t i = 0; i < d.size(); ++i) d[i] = int32_t((i * 7919 + done) % 150000);
    docs.push_back(d);
  }
  enc.encode({docs[0]});  // warm-up: page in the weights
  t.reset();
  enc.encode(docs);
  const double enc_s = t.seconds();
  r.encode_tps = double(enc_tokens) / enc_s;
  r.encode_gflops = 2.0 * encode_params_per_token(c) * double(enc_tokens) / enc_s / 1e9;

  // Decode: plain session, short prompt, then dec_tokens greedy steps (weights
  // are streamed once per token: all layers + the lm_head).
  engine::Session s(m, nullptr);
  std::vector<int32_t> ids = {9707, 11, 1879, 0}, tags(4, -1), pos = {0, 1, 2, 3};
  std::vector<float> logits;
  s.prefill(ids, tags, pos, &logits);
  s.decode(100, &logits);  // warm-up
  t.reset();
  for (int64_t i = 0; i < dec_tokens; ++i) s.decode(int32_t(1000 + i), &logits);
  const double dec_s = t.seconds();
  r.decode_tps = double(dec_tokens) / dec_s;
  // Bytes decode actually streams: not the router projections (prefill only).
  r.decode_gbs = bench::decode_streamed_bytes(*m) * r.decode_tps / 1e9;
  (void)threads;
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  bool quick = false;
  std::string presets = "0.6b,4b";
  fs::path cache = std::getenv("MSA_BENCH_CACHE") ? fs::path(std::getenv("MSA_BENCH_CACHE")) : fs::path(".cache") / "bench-models";
  int64_t enc_tokens = 0, dec_tokens = 0;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) { std::fprintf(stderr, "missing value for %s\n", a.c_str()); std::exit(2); }
      return argv[++i];
    };
    if (a == "--quick") quick = true;
    else if (a == "--presets") presets = next();
    else if (a == "--cache") cache = next();
    else if (a == "--encode-tokens") enc_tokens = std::stoll(next());
    else if (a == "--decode-tokens") dec_tokens = std::stoll(next());
    else { std::fprintf(stderr, "usage: bench_engine [--quick] [--presets 0.6b,4b] [--cache DIR] [--encode-tokens N] [--decode-tokens N]\n"); return 2; }
  }
  if (!enc_tokens) enc_tokens = quick ? 512 : 1024;
  if (!dec_tokens) dec_tokens = quick ? 8 : 32;
  const int threads = num_threads();
  std::printf("bench_engine: %d threads, matmul path bf16 GEMM=%s GEMV=%s%s\n", threads,
              kernels::matmul_path(kernels::WType::BF16, 512), kernels::matmul_path(kernels::WType::BF16, 1),
              quick ? " (quick: fewer layers per model)" : "");
  std::vector<Result> results;
  size_t start = 0;
  while (start <= presets.size()) {
    size_t e = presets.find(',', start);
    if (e == std::string::npos) e = presets.size();
    const std::string p = presets.substr(start, e - start);
    if (!p.empty()) results.push_back(run_preset(p, cache, quick, enc_tokens, dec_tokens, threads));
    start = e + 1;
  }
  const double peak = measure_bf16_peak_gflops(threads);
  std::printf("\nmeasured now: bf16 dot-product peak %.0f GFLOP/s (%d threads)\n", peak, threads);
  std::printf("\n%-12s %8s %9s %10s %9s %8s | %10s %9s %9s %8s\n", "model", "weights", "load ms",
              "enc tok/s", "GFLOP/s", "÷peak", "dec tok/s", "GB/s", "read GB/s", "÷bw");
  for (auto& r : results) {
    const double bw = measure_read_bandwidth_gbs(size_t(r.weight_gb * 1e9), threads);
    const double enc_ratio = bench::require_ratio(r.encode_gflops, peak, "encode GFLOP/s ÷ bf16 dot-product peak");
    const double dec_ratio = bench::require_ratio(r.decode_gbs, bw, "decode GB/s ÷ read bandwidth");
    std::printf("%-12s %6.2fGB %9.1f %10.1f %9.1f %8.2f | %10.2f %9.1f %9.1f %8.2f\n", r.name.c_str(),
                r.weight_gb, r.load_ms, r.encode_tps, r.encode_gflops, enc_ratio,
                r.decode_tps, r.decode_gbs, bw, dec_ratio);
    r.encode_gflops = enc_ratio;
    r.decode_gbs = dec_ratio;
  }
  std::printf("peak RSS %.2f GB\n\n", peak_rss_gb());
  for (auto& r : results) {
    const std::string tag = r.name.rfind("0.6b", 0) == 0 ? "0p6b" : "4b";
    std::printf("metric: encode_flops_ratio_%s = %.3f\n", tag.c_str(), r.encode_gflops);
    std::printf("metric: decode_bw_ratio_%s = %.3f\n", tag.c_str(), r.decode_gbs);
    std::printf("metric: encode_tokens_per_s_%s = %.2f\n", tag.c_str(), r.encode_tps);
    std::printf("metric: decode_tokens_per_s_%s = %.2f\n", tag.c_str(), r.decode_tps);
  }
  return 0;
}
