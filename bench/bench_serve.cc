// bench_serve: load test of `msa serve` over loopback. Builds (once, cached)
// banks of synthetic NIAH memory with the embedded model, starts the real
// server in-process on a free port and drives it with C concurrent clients
// (a bundled httplib client, bounded in time). Reports requests/s, client
// latency p50/p99 and per-stage p50/p99 (route, prefill, decode, from each
// response's timings), and the scaling efficiency against the same server's
// single-client rate measured in the same run (the machine's own limit:
// rps_C ÷ (C_eff × rps_1), C_eff = min(C, cores)). A warm-up run comes first
// (page cache, allocator, first-touch of the bank) and is discarded; then
// single-client and C-client runs alternate, so drift (other work on the
// cores, thermal state) hits both alike. An efficiency above 1 is printed with
// its explanation (bench/common/honest_numbers.h).
//
//   bench_serve [--quick] [--sizes 1m,10m] [--clients C] [--seconds S] [--model DIR]
// Banks are cached in $MSA_BENCH_CACHE (default .cache/bench-banks).
//
//   bench_serve --soak MINUTES [--clients C]
// Soak test (issue 16, bench/soak.cc): a fresh bank and C clients mixing
// questions (plain and streamed) with writes (POST with Idempotency-Key, PUT
// by external id, DELETE) and reads for MINUTES; reports RSS at start, after
// warm-up and at the end, errors, and p50/p99 per operation.
#include <fmt/format.h>
#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "common/honest_numbers.h"
#include "common/machine_limits.h"
#include "core/allocator.h"
#include "core/timer.h"
#include "data/tasks.h"
#include "engine/bank_service.h"
#include "memory/bank.h"
#include "model/default_model.h"
#include "model/model.h"
#include "model/tokenizer.h"
#include "server/server.h"
#include "common/soak.h"

namespace fs = std::filesystem;
using nlohmann::json;
using namespace msa;

namespace {

struct Args {
  bool quick = false;
  double soak_minutes = 0;
  std::vector<std::string> sizes;
  int clients = 4;
  double seconds = 20;
  std::string model;
};

int64_t parse_size(std::string s) {
  double mult = 1;
  if (!s.empty() && (s.back() == 'k' || s.back() == 'K')) mult = 1e3, s.pop_back();
  else if (!s.empty() && (s.back() == 'm' || s.back() == 'M')) mult = 1e6, s.pop_back();
  return int64_t(std::stod(s) * mult);
}

double pct(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, size_t(p * double(v.size() - 1) + 0.5))];
}

// A bank of ~tokens text tokens of NIAH memory (filler + needles), built once.
fs::path ensure_bank(const fs::path& model_dir, int64_t tokens, std::vector<data::Question>* questions) {
  const char* cache = std::getenv("MSA_BENCH_CACHE");
  const fs::path root = cache && *cache ? fs::path(cache) : fs::path(".cache") / "bench-banks";
  const fs::path dir = root / ("serve-" + std::to_string(tokens));
  data::TaskOptions to;
  to.task = data::Task::kNiah;
  to.memory_tokens = tokens;
  to.num_questions = 64;
  to.seed = 11;
  data::TaskSet set = data::generate_task(to);
  *questions = set.questions;
  if (fs::exists(dir / "MANIFEST")) {
    try {
      memory::Bank::verify_dir(dir.string());
      return dir;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "cached bank %s unusable (%s): rebuilding\n", dir.c_str(), e.what());
    }
  }
  fs::remove_all(dir);
  fs::create_directories(root);
  memory::Bank::create(dir.string(), model_dir.string());
  memory::BankOpenOptions bo;
  bo.writer = true;
  bo.model_dir = model_dir.string();
  auto bank = memory::Bank::open(dir.string(), bo);
  Timer t;
  const size_t batch = 2048;
  for (size_t i = 0; i < set.docs.size(); i += batch) {
    std::vector<memory::NewDocument> docs;
    for (size_t j = i; j < std::min(set.docs.size(), i + batch); ++j) docs.push_back({set.docs[j].text, "", "default", ""});
    bank->add_documents(docs);
    std::fprintf(stderr, "\rbuilding %s: %zu/%zu documents (%.0f s)", dir.filename().c_str(),
                 std::min(set.docs.size(), i + batch), set.docs.size(), t.seconds());
  }
  std::fprintf(stderr, "\n");
  return dir;
}

struct RunResult {
  double rps = 0, p50 = 0, p99 = 0;
  std::vector<double> route, prefill, decode, latency;
  int64_t ok = 0, errors = 0;
  double seconds = 0;
};

// Several runs of one kind as one: rate over their total time, percentiles over all requests.
RunResult combine(const std::vector<RunResult>& runs) {
  RunResult c;
  for (const auto& r : runs) {
    c.ok += r.ok;
    c.errors += r.errors;
    c.seconds += r.seconds;
    for (auto v : {&RunResult::route, &RunResult::prefill, &RunResult::decode, &RunResult::latency})
      (c.*v).insert((c.*v).end(), (r.*v).begin(), (r.*v).end());
  }
  c.rps = c.seconds > 0 ? double(c.ok) / c.seconds : 0;
  c.p50 = pct(c.latency, 0.5);
  c.p99 = pct(c.latency, 0.99);
  return c;
}

RunResult drive(int port, int clients, double seconds, const std::vector<data::Question>& qs) {
  RunResult r;
  std::vector<double> lat;
  std::mutex mu;
  std::atomic<int64_t> next{0};
  Timer wall;
  std::vector<std::thread> ts;
  for (int c = 0; c < clients; ++c)
    ts.emplace_back([&] {
      httplib::Client cl("127.0.0.1", port);
      cl.set_read_timeout(300, 0);
      while (wall.seconds() < seconds) {
        const auto& q = qs[size_t(next.fetch_add(1)) % qs.size()];
        const json body = {{"messages", {{{"role", "user"}, {"content", q.question}}}}, {"max_tokens", 48}};
        Timer t;
        auto res = cl.Post("/v1/chat/completions", body.dump(), "application/json");
        const double ms = t.ms();
        std::lock_guard<std::mutex> l(mu);
        if (!res || res->status != 200) {
          ++r.errors;
          continue;
        }
        ++r.ok;
        lat.push_back(ms);
        const json j = json::parse(res->body, nullptr, false);
        if (j.is_object() && j.contains("msa")) {
          r.route.push_back(j["msa"]["timings_ms"]["route"].get<double>());
          r.prefill.push_back(j["msa"]["timings_ms"]["prefill"].get<double>());
          r.decode.push_back(j["msa"]["timings_ms"]["decode"].get<double>());
        }
      }
    });
  for (auto& t : ts) t.join();
  r.seconds = wall.seconds();
  r.rps = double(r.ok) / r.seconds;
  r.latency = lat;
  r.p50 = pct(lat, 0.5);
  r.p99 = pct(lat, 0.99);
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  msa::configure_allocator();  // encodes large banks (core/allocator.h)
  msa::bench::print_isa_path();
  Args a;
  std::string sizes = "1m,10m";
  for (int i = 1; i < argc; ++i) {
    std::string s = argv[i];
    auto val = [&]() -> std::string {
      if (i + 1 >= argc) { std::fprintf(stderr, "%s needs a value\n", s.c_str()); std::exit(2); }
      return argv[++i];
    };
    if (s == "--quick") a.quick = true;
    else if (s == "--sizes") sizes = val();
    else if (s == "--clients") a.clients = std::stoi(val());
    else if (s == "--seconds") a.seconds = std::stod(val());
    else if (s == "--model") a.model = val();
    else if (s == "--soak") a.soak_minutes = std::stod(val());
    else { std::fprintf(stderr, "unknown option %s\n", s.c_str()); return 2; }
  }
  if (a.quick) {
    sizes = "64k,256k";  // same metric names, smaller banks (labelled in the table)
    a.seconds = 6;
  }
  for (size_t p = 0; p < sizes.size();) {
    size_t q = sizes.find(',', p);
    a.sizes.push_back(sizes.substr(p, q == std::string::npos ? std::string::npos : q - p));
    p = q == std::string::npos ? sizes.size() : q + 1;
  }
  const fs::path model_dir = model::resolve_model_dir(a.model);
  auto m = model::Model::load(model_dir.string());
  auto tok = std::make_shared<model::Tokenizer>(model::Tokenizer::load((model_dir / "tokenizer.json").string()));
  if (a.soak_minutes > 0) return bench::soak(m, tok, model_dir, a.soak_minutes, a.clients);
  const int cores = int(std::max(1u, std::thread::hardware_concurrency()));
  std::printf("bench_serve: model %s, %d clients, %.0f s per run, %d cores\n", model_dir.c_str(), a.clients,
              a.seconds, cores);
  std::printf("%-8s %-8s %8s %9s %9s %9s %9s %9s %9s %9s %9s %6s\n", "bank", "clients", "req/s", "p50 ms",
              "p99 ms", "route50", "route99", "prefill50", "prefill99", "decode50", "decode99", "errors");
  const char* labels[] = {"1m", "10m"};
  std::vector<std::string> metric_lines;
  for (size_t si = 0; si < a.sizes.size(); ++si) {
    const int64_t tokens = parse_size(a.sizes[si]);
    std::vector<data::Question> qs;
    const fs::path bank_dir = ensure_bank(model_dir, tokens, &qs);
    memory::BankOpenOptions bo;
    bo.model = m;
    bo.tokenizer = tok;
    bo.model_dir = model_dir.string();
    Timer open_t;
    engine::BankService service(memory::Bank::open(bank_dir.string(), bo));
    server::ServerOptions so;
    so.max_concurrent_generations = 1024;
    so.interleave.engine.top_k = engine::default_top_k(m->config());
    server::Server srv(m, tok, service, server::ApiKeys::open_access(), so);
    const int port = srv.bind("127.0.0.1", 0);
    std::thread th([&] { srv.serve(); });
    // Warm-up (discarded), then alternating single- and C-client runs.
    drive(port, a.clients, std::max(1.0, a.seconds / 6), qs);
    const int rounds = 2;
    std::vector<RunResult> ones, manys;
    for (int round = 0; round < rounds; ++round) {
      ones.push_back(drive(port, 1, std::max(1.0, a.seconds / (3 * rounds)), qs));
      manys.push_back(drive(port, a.clients, a.seconds / rounds, qs));
    }
    const RunResult one = combine(ones), many = combine(manys);
    srv.stop();
    th.join();
    for (const auto* rr : {&one, &many})
      std::printf("%-8s %-8d %8.2f %9.1f %9.1f %9.2f %9.2f %9.1f %9.1f %9.1f %9.1f %6lld\n", a.sizes[si].c_str(),
                  rr == &one ? 1 : a.clients, rr->rps, rr->p50, rr->p99, pct(rr->route, .5), pct(rr->route, .99),
                  pct(rr->prefill, .5), pct(rr->prefill, .99), pct(rr->decode, .5), pct(rr->decode, .99),
                  (long long)rr->errors);
    const int c_eff = std::min(a.clients, cores);
    const auto e = bench::scaling_efficiency(many.rps, one.rps, c_eff);
    if (!e) {
      std::fprintf(stderr, "bench_serve: error: the single-client run completed no request (%lld errors): no "
                           "scaling efficiency\n", (long long)one.errors);
      return 1;
    }
    const double eff = e->value;
    std::printf("  scaling efficiency vs %d x single-client rate: %.2f\n", c_eff, eff);
    if (!e->note.empty()) std::printf("  note: %s\n", e->note.c_str());
    if (si < 2) {
      metric_lines.push_back(fmt::format("metric: serve_rps_{} = {:.3f}", labels[si], many.rps));
      metric_lines.push_back(fmt::format("metric: serve_p99_ms_{} = {:.1f}", labels[si], many.p99));
      metric_lines.push_back(fmt::format("metric: serve_scaling_efficiency_{} = {:.3f}", labels[si], eff));
      if (!e->note.empty()) metric_lines.push_back(fmt::format("# serve_scaling_efficiency_{}: {}", labels[si], e->note));
    }
  }
  if (a.quick) std::printf("(--quick: the _1m/_10m metrics below were measured on %s-token banks)\n", sizes.c_str());
  for (const auto& l : metric_lines) std::printf("%s\n", l.c_str());
  return 0;
}
