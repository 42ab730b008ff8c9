// bench_bank: builds a persistent memory bank of ≥ 10M tokens (tiny-model
// dimensions: hidden 64, 4 layers, Hkv 2, d 16, P 4, 2 routing layers; random
// weights, Qwen3 tokenizer, synthetic text), closes it and reopens it in a
// fresh process. Reports ingest tokens/s, bytes/token per tier, open time and
// the resident set needed to serve.
//
//   bench_bank [--quick] [--tokens N] [--dir DIR] [--batch-docs N] [--keep]
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "core/allocator.h"
#include "common/machine_limits.h"
#include "common/source_root.h"
#include "core/timer.h"
#include "memory/bank.h"
#include "model/random_checkpoint.h"

namespace fs = std::filesystem;
using namespace msa;

namespace {


std::string synthetic_doc(std::mt19937_64& r, int words) {
  static const char* vocab[] = {"the", "river", "lamp", "quantum", "Paris", "falcon", "silver", "bridge", "market",
                                "library", "ocean", "guild", "records", "tower", "harbor", "was", "built", "in",
                                "visited", "by", "thousand", "people", "each", "year", "and", "its", "old", "town"};
  std::string s;
  for (int i = 0; i < words; ++i) {
    if (i) s += ' ';
    if (r() % 9 == 0) s += std::to_string(r() % 3000);
    else s += vocab[r() % (sizeof(vocab) / sizeof(vocab[0]))];
  }
  return s + ".";
}


// The reopen runs in a fresh process (clean RSS; fork() alone would inherit
// OpenMP threads, which libgomp does not survive): this binary re-executed
// with --child-open, which prints the report as "key value" lines on stdout.
int child_open(const std::string& dir, const std::string& model) {
  double open_noverify_ms = 0;
  {
    Timer t;
    memory::BankOpenOptions o;
    o.verify_checksums = false;
    auto b = memory::Bank::open(dir, o);
    open_noverify_ms = t.ms();
  }
  Timer t;
  memory::BankOpenOptions o;
  o.model_dir = model;
  auto b = memory::Bank::open(dir, o);  // identity check + full checksums
  const double open_ms = t.ms();
  auto snap = b->snapshot_all();
  std::vector<float> u(8 * 4 * 16, 0.1f);
  memory::RoutingQuery q;
  q.u = u.data();
  q.Tr = 8;
  q.Hq = 4;
  q.d = 16;
  q.k = 16;
  Timer tq;
  for (int i = 0; i < 10; ++i) {
    auto sel = snap->route(i % 2, q);
    std::vector<float> k, v;
    for (auto& d : sel) snap->append_chunks(i % 2, d.doc, &k, &v);
  }
  const double route_ms = tq.ms() / 10;
  const auto s = b->stats();
  std::printf("open_ms %f\nopen_noverify_ms %f\nroute_ms %f\nrss %llu\ndocuments %lld\ntokens %lld\nchunks %lld\n"
              "segments %lld\npartitions %lld\nram_routing %llu\ndisk_content %llu\ndisk_routing %llu\n"
              "disk_catalog %llu\ndisk_total %llu\nserve_est %llu\n",
              open_ms, open_noverify_ms, route_ms, (unsigned long long)s.process_rss_bytes, (long long)s.documents,
              (long long)s.tokens, (long long)s.chunks, (long long)s.segments, (long long)s.partitions,
              (unsigned long long)s.ram_routing_bytes, (unsigned long long)s.disk_content_bytes,
              (unsigned long long)s.disk_routing_bytes, (unsigned long long)s.disk_catalog_bytes,
              (unsigned long long)s.disk_total_bytes, (unsigned long long)s.serve_ram_bytes);
  return 0;
}

std::map<std::string, double> open_in_child(const std::string& dir, const std::string& model) {
  const std::string cmd = "\"/proc/" + std::to_string(::getpid()) + "/exe\" --child-open \"" + dir + "\" \"" + model + "\"";
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) std::abort();
  std::map<std::string, double> r;
  char key[64];
  double v;
  while (std::fscanf(p, "%63s %lf", key, &v) == 2) r[key] = v;
  ::pclose(p);
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  msa::configure_allocator();  // encodes large banks (core/allocator.h)
  msa::bench::print_isa_path();
  bool quick = false, keep = false;
  int64_t target = 10'000'000, batch_docs = 2000;
  std::string dir;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--child-open" && i + 2 < argc) return child_open(argv[i + 1], argv[i + 2]);
    if (a == "--quick") quick = true;
    else if (a == "--keep") keep = true;
    else if (a == "--tokens" && i + 1 < argc) target = std::atoll(argv[++i]);
    else if (a == "--batch-docs" && i + 1 < argc) batch_docs = std::atoll(argv[++i]);
    else if (a == "--dir" && i + 1 < argc) dir = argv[++i];
    else {
      std::fprintf(stderr, "usage: bench_bank [--quick] [--tokens N] [--dir DIR] [--batch-docs N] [--keep]\n");
      return 2;
    }
  }
  if (quick && target == 10'000'000) target = 300'000;
  const std::string tok_rel = ".cache/tokenizers/qwen3/tokenizer.json";
  const std::string tok = (msa::bench::source_root(tok_rel) / tok_rel).string();
  if (!fs::exists(tok)) {
    std::fprintf(stderr, "bench_bank: needs the Qwen3 tokenizer (scripts/fetch_tokenizer.sh): %s\n", tok.c_str());
    return 1;
  }
  const fs::path root = dir.empty() ? fs::temp_directory_path() / ("msa_bench_bank_" + std::to_string(::getpid())) : fs::path(dir);
  fs::remove_all(root);
  fs::create_directories(root);
  const std::string model = (root / "model").string(), bank = (root / "bank").string();
  auto cfg = model::preset_config("tiny");
  cfg.vocab_size = 151669;
  model::write_random_checkpoint(cfg, model, {DType::BF16, 1, 1, 0.02f});
  fs::copy_file(tok, fs::path(model) / "tokenizer.json");

  memory::Bank::create(bank, model);
  int64_t tokens = 0, docs = 0;
  double ingest_s = 0;
  {
    memory::BankOpenOptions o;
    o.writer = true;
    o.model_dir = model;
    auto b = memory::Bank::open(bank, o);
    std::mt19937_64 r(42);
    Timer t;
    double last = 0;
    while (tokens < target) {
      std::vector<memory::NewDocument> batch;
      for (int64_t i = 0; i < batch_docs; ++i)
        batch.push_back({synthetic_doc(r, 60 + int(r() % 200)), "", "ns" + std::to_string(r() % 4), ""});
      int64_t n = 0;
      b->write(batch, std::vector<int64_t>(batch.size(), -1), &n);
      tokens += n;
      docs += int64_t(batch.size());
      if (t.seconds() - last > 10) {
        last = t.seconds();
        std::fprintf(stderr, "  %lld tokens, %.0f tok/s\n", (long long)tokens, double(tokens) / last);
      }
    }
    ingest_s = t.seconds();
  }
  auto rep = open_in_child(bank, model);
  const double T = rep["tokens"] > 0 ? rep["tokens"] : 1.0;
  const double rss_mb = rep["rss"] / 1048576.0;
  std::printf("bank: %.0f documents, %.0f tokens, %.0f chunks, %.0f segments, %.0f routing partitions\n",
              rep["documents"], rep["tokens"], rep["chunks"], rep["segments"], rep["partitions"]);
  std::printf("ingest: %.1f s, %.0f tokens/s (tokenize + encode + write + commit, %lld docs per commit)\n", ingest_s,
              double(tokens) / ingest_s, (long long)batch_docs);
  std::printf("tiers (bytes/token): RAM routing %.1f | mmap content K/V %.1f | disk routing %.1f | catalog %.1f | disk total %.1f\n",
              rep["ram_routing"] / T, rep["disk_content"] / T, rep["disk_routing"] / T, rep["disk_catalog"] / T,
              rep["disk_total"] / T);
  std::printf("open (fresh process): %.0f ms with identity check + full checksums, %.0f ms without; route+append %.2f ms/query-layer\n",
              rep["open_ms"], rep["open_noverify_ms"], rep["route_ms"]);
  std::printf("serving: RSS %.1f MB after open + queries (estimate %.1f MB)\n", rss_mb, rep["serve_est"] / 1048576.0);
  if (!keep) fs::remove_all(root);
  std::printf("metric: bank_ingest_tokens_per_s = %.0f\n", double(tokens) / ingest_s);
  std::printf("metric: bank_open_ms = %.1f\n", rep["open_ms"]);
  std::printf("metric: bank_ram_bytes_per_token = %.2f\n", rep["ram_routing"] / T);
  std::printf("metric: bank_disk_bytes_per_token = %.2f\n", rep["disk_total"] / T);
  std::printf("metric: bank_serve_rss_mb = %.1f\n", rss_mb);
  return 0;
}
