// Tokenizer benchmark: load time of the real Qwen3 tokenizer.json (151k vocab)
// and encode throughput on a deterministic mix of prose, code, CJK, Arabic,
// Hindi, emoji and digits — single thread and all threads — beside the
// JavaScript oracle (transformers.js, tests/tokenizer/oracle.mjs) on the same
// documents in the same run. Each measured pass uses a freshly loaded
// tokenizer, so the BPE cache starts cold.
//   bench_tokenizer [--quick] [--tokenizer PATH] [--mb N]
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "core/error.h"
#include "core/timer.h"
#include "model/tokenizer.h"
#include "model/tokenizer_json.h"
#include "common/machine_limits.h"
#include "common/source_root.h"

namespace fs = std::filesystem;
using msa::model::Tokenizer;

namespace {

std::vector<std::string> make_documents(size_t total_bytes) {
  std::mt19937 rng(20240517);
  auto pick = [&](auto& v) -> const auto& { return v[rng() % v.size()]; };
  static const std::vector<std::string> words = {
      "the", "of", "memory", "sparse", "attention", "retrieval", "model", "question", "answer", "document",
      "Paris", "capital", "France", "history", "river", "it's", "they'll", "we've", "I'm", "DON'T", "network",
      "language", "computer", "science", "1939", "born", "son", "Bill", "Watts", "chunk", "router", "token"};
  static const std::vector<std::string> code = {
      "def f(x):\n    return x ** 2  # square\n", "for (int i = 0; i < n; ++i) {\n\tsum += a[i];\n}\n",
      "{\"key\": [1, 2.5, -3e10], \"ok\": true}\n", "#include <vector>\nint main() { return 0; }\n"};
  static const std::vector<std::string> other = {
      "记忆稀疏注意力模型可以处理一亿个词元的上下文。", "東京は日本の首都です。", "안녕하세요 세계",
      "مرحبا بالعالم، هذه جملة عربية.", "नमस्ते दुनिया, यह एक वाक्य है।", "😀👍🏽 👨‍👩‍👧‍👦 🇫🇷 ",
      "Ünïcödé façade naïve café résumé ", "12345678901234567890 3.14159 2024-05-17 ", "    \n\n\t  "};
  std::vector<std::string> docs;
  size_t total = 0;
  while (total < total_bytes) {
    std::string d;
    size_t len = 2000 + rng() % 6000;
    while (d.size() < len) {
      unsigned k = rng() % 10;
      if (k < 6) {
        for (int i = 0, n = 5 + int(rng() % 20); i < n; ++i) d += (i ? " " : "") + pick(words);
        d += ". ";
        if (rng() % 4 == 0) d += "\n";
      } else if (k < 8) {
        d += pick(code);
      } else {
        d += pick(other);
      }
    }
    total += d.size();
    docs.push_back(std::move(d));
  }
  return docs;
}

// CPU time of the calling thread: on a shared machine wall time also counts
// time spent waiting for a core, so the table reports both.
double thread_cpu_seconds() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + double(ts.tv_nsec) * 1e-9;
}

size_t encode_all(const Tokenizer& tok, const std::vector<std::string>& docs, size_t begin, size_t end) {
  size_t n = 0;
  for (size_t i = begin; i < end; ++i) n += tok.encode(docs[i], true).size();
  return n;
}

}  // namespace

int main(int argc, char** argv) {
  msa::bench::print_isa_path();
  bool quick = false;
  double mb = -1;
  std::string tok_path;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--quick")) quick = true;
    else if (!std::strcmp(argv[i], "--tokenizer") && i + 1 < argc) tok_path = argv[++i];
    else if (!std::strcmp(argv[i], "--mb") && i + 1 < argc) mb = std::atof(argv[++i]);
    else {
      std::fprintf(stderr, "usage: bench_tokenizer [--quick] [--tokenizer PATH] [--mb N]\n");
      return 2;
    }
  }
  const fs::path root = msa::bench::source_root("tests/tokenizer/oracle.mjs");
  if (tok_path.empty()) {
    tok_path = (root / ".cache/tokenizers/qwen3/tokenizer.json").string();
    if (!fs::exists(tok_path)) {
      std::string cmd = "'" + (root / "scripts/fetch_tokenizer.sh").string() + "'";
      if (std::system(cmd.c_str()) != 0 || !fs::exists(tok_path)) {
        std::fprintf(stderr, "bench_tokenizer: %s missing and scripts/fetch_tokenizer.sh failed\n", tok_path.c_str());
        return 1;
      }
    }
  }
  if (mb <= 0) mb = quick ? 1.0 : 4.0;
  const double oracle_mb = quick ? 0.25 : 1.0;

  try {
    // Load time: median of 3 loads.
    std::vector<double> loads, load_cpu;
    for (int i = 0; i < 3; ++i) {
      double c0 = thread_cpu_seconds();
      msa::Timer t;
      Tokenizer tok = Tokenizer::load(tok_path);
      loads.push_back(t.ms());
      load_cpu.push_back((thread_cpu_seconds() - c0) * 1e3);
    }
    std::sort(loads.begin(), loads.end());
    std::sort(load_cpu.begin(), load_cpu.end());
    const double load_ms = loads[1];

    auto docs = make_documents(size_t(mb * 1e6));
    size_t bytes = 0;
    for (auto& d : docs) bytes += d.size();

    // Single thread, cold cache.
    Tokenizer tok1 = Tokenizer::load(tok_path);
    double c1 = thread_cpu_seconds();
    msa::Timer t1;
    size_t tokens = encode_all(tok1, docs, 0, docs.size());
    const double s1 = t1.seconds();
    const double cpu1 = thread_cpu_seconds() - c1;

    // All threads share one (fresh) tokenizer, documents split evenly.
    const int nthreads = int(std::max(1u, std::thread::hardware_concurrency()));
    Tokenizer tokn = Tokenizer::load(tok_path);
    std::vector<size_t> counts(size_t(nthreads), 0);
    std::vector<double> cpus(size_t(nthreads), 0.0);
    msa::Timer tn;
    {
      std::vector<std::thread> pool;
      for (int t = 0; t < nthreads; ++t)
        pool.emplace_back([&, t] {
          size_t b = docs.size() * size_t(t) / size_t(nthreads), e = docs.size() * size_t(t + 1) / size_t(nthreads);
          double c0 = thread_cpu_seconds();
          counts[size_t(t)] = encode_all(tokn, docs, b, e);
          cpus[size_t(t)] = thread_cpu_seconds() - c0;
        });
      for (auto& th : pool) th.join();
    }
    const double sn = tn.seconds();
    size_t tokens_n = 0;
    for (size_t c : counts) tokens_n += c;
    MSA_CHECK(tokens_n == tokens, "multi-threaded encode gave {} tokens, single-threaded {}", tokens_n, tokens);

    // Oracle on a prefix of the same documents (node is much slower).
    size_t ob = 0, od = 0;
    while (od < docs.size() && ob < size_t(oracle_mb * 1e6)) ob += docs[od++].size();
    size_t our_tokens_prefix = 0;
    msa::Timer tp;
    our_tokens_prefix = encode_all(tok1, docs, 0, od);  // warm: only for the token-count cross-check
    (void)tp;
    double oracle_s = -1;
    size_t oracle_tokens = 0;
    const fs::path oracle = root / "tests/tokenizer/oracle.mjs";
    if (fs::exists(oracle) && std::system("node --version > /dev/null 2>&1") == 0) {
      const fs::path in = fs::temp_directory_path() / ("msa_bench_tok_" + std::to_string(::getpid()) + ".jsonl");
      {
        std::ofstream f(in);
        for (size_t i = 0; i < od; ++i) {
          std::string line;
          msa::model::append_json_string(line, docs[i]);
          f << line << "\n";
        }
      }
      std::string cmd = "node '" + oracle.string() + "' bench --in '" + in.string() + "'";
      if (FILE* p = popen(cmd.c_str(), "r")) {
        char buf[256];
        while (std::fgets(buf, sizeof buf, p)) {
          std::sscanf(buf, "oracle_seconds = %lf", &oracle_s);
          std::sscanf(buf, "oracle_tokens = %zu", &oracle_tokens);
        }
        pclose(p);
      }
      fs::remove(in);
    }

    const double mbps1 = bytes / 1e6 / s1, mbpsn = bytes / 1e6 / sn;
    const double oracle_mbps = oracle_s > 0 ? ob / 1e6 / oracle_s : 0;
    std::printf("tokenizer: %s\n", tok_path.c_str());
    std::printf("%-28s %12s %12s %12s %14s\n", "run", "MB", "seconds", "MB/s", "MB/cpu-second");
    std::printf("%-28s %12.2f %12.3f %12.2f %14.2f\n", "msa encode, 1 thread", bytes / 1e6, s1, mbps1,
                bytes / 1e6 / cpu1);
    double cpun = 0;
    for (double c : cpus) cpun += c;
    std::printf("%-28s %12.2f %12.3f %12.2f %14.2f\n", ("msa encode, " + std::to_string(nthreads) + " threads").c_str(),
                bytes / 1e6, sn, mbpsn, bytes / 1e6 / cpun);
    if (oracle_s > 0)
      std::printf("%-28s %12.2f %12.3f %12.2f\n", "transformers.js (node)", ob / 1e6, oracle_s, oracle_mbps);
    else
      std::printf("transformers.js oracle: not run (node or oracle.mjs missing)\n");
    std::printf("tokens: %zu total (%.2f bytes/token); oracle prefix: ours %zu, oracle %zu%s\n", tokens,
                double(bytes) / double(tokens), our_tokens_prefix, oracle_tokens,
                oracle_s > 0 && oracle_tokens != our_tokens_prefix ? "  MISMATCH" : "");
    std::printf("load times (ms): wall %.1f %.1f %.1f, thread cpu %.1f %.1f %.1f\n", loads[0], loads[1], loads[2],
                load_cpu[0], load_cpu[1], load_cpu[2]);
    std::printf("metric: tokenizer_mb_per_s_1t = %.3f\n", mbps1);
    std::printf("metric: tokenizer_mb_per_s_all = %.3f\n", mbpsn);
    std::printf("metric: tokenizer_speedup_vs_oracle = %.3f\n", oracle_mbps > 0 ? mbps1 / oracle_mbps : 0.0);
    std::printf("metric: tokenizer_load_ms = %.3f\n", load_ms);
    return 0;
  } catch (const msa::Error& e) {
    std::fprintf(stderr, "bench_tokenizer: error: %s\n", e.what());
    return 1;
  }
}
