#include "common/soak.h"

#include <fmt/format.h>
#include <httplib.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <chrono>
#include <thread>

#include "core/timer.h"
#include "data/tasks.h"
#include "engine/bank_service.h"
#include "memory/bank.h"
#include "memory/passages.h"
#include "server/server.h"

namespace msa::bench {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using namespace ::msa;

// A field of /proc/self/status in bytes ("VmRSS", "RssAnon", "RssFile").
int64_t status_bytes(const std::string& key) {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind(key + ":", 0) == 0) return std::stoll(line.substr(key.size() + 1)) * 1024;
  return 0;
}
int64_t rss_bytes() { return status_bytes("VmRSS"); }
double mib(int64_t b) { return double(b) / (1 << 20); }

double pct(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, size_t(p * double(v.size() - 1) + 0.5))];
}

struct Stats {
  std::mutex mu;
  std::map<std::string, std::vector<double>> latency;  // per operation
  std::map<std::string, int64_t> errors;
  std::vector<std::string> first_errors;
  void record(const std::string& op, double ms, bool ok, const std::string& why) {
    std::lock_guard<std::mutex> l(mu);
    latency[op].push_back(ms);
    if (!ok) {
      ++errors[op];
      if (first_errors.size() < 10) first_errors.push_back(op + ": " + why);
    }
  }
};

}  // namespace

int soak(std::shared_ptr<const model::Model> m, std::shared_ptr<const model::Tokenizer> tok,
         const fs::path& model_dir, double minutes, int clients) {
  const fs::path dir = fs::temp_directory_path() / ("msa_soak_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  memory::Bank::create(dir.string(), model_dir.string());
  memory::BankOpenOptions bo;
  bo.writer = true;
  bo.model = m;
  bo.tokenizer = tok;
  bo.model_dir = model_dir.string();
  // A 16k-token NIAH memory to ask about; the clients write beside it.
  data::TaskOptions to;
  to.task = data::Task::kNiah;
  to.memory_tokens = 16 * 1024;
  to.num_questions = 64;
  to.seed = 5;
  const data::TaskSet set = data::generate_task(to);
  {
    auto bank = memory::Bank::open(dir.string(), bo);
    std::vector<memory::NewDocument> docs;
    for (const auto& d : set.docs) docs.push_back({d.text, "", "default", ""});
    bank->add_documents(docs);
  }
  engine::BankService service(memory::Bank::open(dir.string(), bo), tok, memory::default_passage_tokens(model_dir.string()));
  server::ServerOptions so;
  so.max_concurrent_generations = 1024;
  so.interleave.engine.top_k = engine::default_top_k(m->config());
  server::Server srv(m, tok, service, server::ApiKeys::open_access(), so);
  const int port = srv.bind("127.0.0.1", 0);
  std::thread th([&] { srv.serve(); });

  const int64_t rss_start = rss_bytes();
  const double seconds = minutes * 60, warmup = std::min(60.0, seconds / 10);
  std::atomic<int64_t> rss_warm{0};
  Stats st;
  Timer wall;
  std::printf("bench_serve --soak: %.1f min, %d clients, bank of %zu documents, RSS at start %.1f MiB\n", minutes,
              clients, set.docs.size(), double(rss_start) / (1 << 20));
  std::fflush(stdout);
  std::vector<std::thread> ts;
  for (int c = 0; c < clients; ++c)
    ts.emplace_back([&, c] {
      httplib::Client cl("127.0.0.1", port);
      cl.set_read_timeout(300, 0);
      std::mt19937_64 rng(uint64_t(c) * 7919 + 1);
      std::vector<std::string> mine;  // this client's live external ids (at most 32)
      int64_t n = 0;
      auto call = [&](const std::string& op, auto&& fn, int want_lo, int want_hi) {
        Timer t;
        httplib::Result r = fn();
        const bool ok = r && r->status >= want_lo && r->status <= want_hi;
        st.record(op, t.ms(), ok,
                  r ? fmt::format("HTTP {} {}", r->status, r->body.substr(0, 200)) : httplib::to_string(r.error()));
        return ok;
      };
      while (wall.seconds() < seconds) {
        if (rss_warm == 0 && wall.seconds() >= warmup && c == 0) rss_warm = rss_bytes();
        const int dice = int(rng() % 100);
        const auto& q = set.questions[size_t(rng() % set.questions.size())];
        if (dice < 40) {
          const json body = {{"messages", {{{"role", "user"}, {"content", q.question}}}}, {"max_tokens", 32}};
          call("chat", [&] { return cl.Post("/v1/chat/completions", body.dump(), "application/json"); }, 200, 200);
        } else if (dice < 50) {
          const json body = {{"messages", {{{"role", "user"}, {"content", q.question}}}}, {"max_tokens", 32},
                             {"stream", true}, {"stream_options", {{"include_usage", true}}}};
          call("chat_stream", [&] { return cl.Post("/v1/chat/completions", body.dump(), "application/json"); }, 200, 200);
        } else if (dice < 65 || mine.empty()) {
          const std::string eid = fmt::format("soak-{}-{}", c, n++);
          const json body = {{"id", eid}, {"text", fmt::format("the magic number for soak item {} {} is {} .", c, n, rng() % 10000)}};
          httplib::Headers h = {{"Idempotency-Key", "k-" + eid}};
          if (call("post", [&] { return cl.Post("/v1/memory/documents", h, body.dump(), "application/json"); }, 201, 201)) {
            mine.push_back(eid);
            // A retry of the same POST returns the first result.
            call("post_retry", [&] { return cl.Post("/v1/memory/documents", h, body.dump(), "application/json"); }, 201, 201);
          }
        } else if (dice < 78) {
          const std::string& eid = mine[size_t(rng() % mine.size())];
          const json body = {{"text", fmt::format("the magic number for soak item {} is {} .", eid, rng() % 10000)}};
          call("put", [&] { return cl.Put("/v1/memory/documents/by-external-id/" + eid, body.dump(), "application/json"); }, 200, 201);
        } else if (dice < 88) {
          const std::string& eid = mine[size_t(rng() % mine.size())];
          call("get", [&] { return cl.Get("/v1/memory/documents/by-external-id/" + eid); }, 200, 200);
        } else if (dice < 93) {
          call("list", [&] { return cl.Get("/v1/memory/documents?limit=50"); }, 200, 200);
        } else {
          const size_t k = size_t(rng() % mine.size());
          const std::string eid = mine[k];
          if (call("delete", [&] { return cl.Delete("/v1/memory/documents/by-external-id/" + eid); }, 200, 200))
            mine.erase(mine.begin() + long(k));
        }
        while (mine.size() > 32) {  // keep the live set steady
          const std::string eid = mine.front();
          if (call("delete", [&] { return cl.Delete("/v1/memory/documents/by-external-id/" + eid); }, 200, 200))
            mine.erase(mine.begin());
          else break;
        }
      }
    });
  // RSS once a minute (anonymous = heap, file = mapped segments and binaries): growth vs plateau.
  std::thread sampler([&] {
    for (int minute = 1; wall.seconds() < seconds; ++minute) {
      while (wall.seconds() < std::min(seconds, 60.0 * minute)) std::this_thread::sleep_for(std::chrono::milliseconds(200));
      std::printf("  %4.0f s: RSS %.1f MiB (anon %.1f, file %.1f), %lld segments, %lld stored versions\n",
                  wall.seconds(), mib(rss_bytes()), mib(status_bytes("RssAnon")), mib(status_bytes("RssFile")),
                  (long long)service.bank().stats().segments, (long long)service.bank().stats().stored_versions);
      std::fflush(stdout);
    }
  });
  for (auto& t : ts) t.join();
  sampler.join();
  const double elapsed = wall.seconds();
  const int64_t rss_end = rss_bytes();
  srv.stop();
  th.join();
  const auto bs = service.bank().stats();
  int64_t total = 0, errors = 0;
  std::vector<double> all;
  std::printf("%-12s %8s %8s %9s %9s\n", "operation", "count", "errors", "p50 ms", "p99 ms");
  for (auto& [op, v] : st.latency) {
    total += int64_t(v.size());
    errors += st.errors[op];
    all.insert(all.end(), v.begin(), v.end());
    std::printf("%-12s %8zu %8lld %9.1f %9.1f\n", op.c_str(), v.size(), (long long)st.errors[op], pct(v, .5), pct(v, .99));
  }
  for (const auto& e : st.first_errors) std::printf("  error: %s\n", e.c_str());
  const int64_t warm = rss_warm > 0 ? rss_warm.load() : rss_start;
  std::printf("requests %lld in %.0f s, errors %lld; p99 all %.1f ms\n", (long long)total, elapsed, (long long)errors,
              pct(all, .99));
  std::printf("RSS start %.1f MiB, after %.0f s warm-up %.1f MiB, end %.1f MiB: growth %.1f%% since warm-up, %.1f%% since start\n",
              double(rss_start) / (1 << 20), warmup, double(warm) / (1 << 20), double(rss_end) / (1 << 20),
              100.0 * double(rss_end - warm) / double(warm), 100.0 * double(rss_end - rss_start) / double(rss_start));
  std::printf("bank at end: %lld live documents, %lld stored versions, %lld segments\n", (long long)bs.documents,
              (long long)bs.stored_versions, (long long)bs.segments);
  std::printf("metric: soak_requests = %lld\n", (long long)total);
  std::printf("metric: soak_errors = %lld\n", (long long)errors);
  std::printf("metric: soak_p99_ms = %.1f\n", pct(all, .99));
  std::printf("metric: soak_rss_start_mib = %.1f\n", double(rss_start) / (1 << 20));
  std::printf("metric: soak_rss_end_mib = %.1f\n", double(rss_end) / (1 << 20));
  std::printf("metric: soak_rss_growth_pct = %.2f\n", 100.0 * double(rss_end - warm) / double(warm));
  fs::remove_all(dir);
  return errors == 0 ? 0 : 1;
}

}  // namespace msa::bench
