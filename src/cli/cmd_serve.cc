// msa serve --bank B [--model M] --host 127.0.0.1 --port P [--api-keys FILE]
// With a sharded bank under `mpirun -np N` rank 0 runs the model and the HTTP
// server over every shard (reads gathered, writes routed to the owning shard);
// the other ranks serve their shards (docs/memory-parallel.md).
#include <unistd.h>

#include <csignal>
#include <cerrno>
#include <cstdio>
#include <thread>

#include "cli/command.h"
#include "cli/product_common.h"
#include "cli/product_sharded.h"
#include "engine/bank_service.h"
#include "memory/passages.h"
#include "server/server.h"

namespace {

// SIGINT/SIGTERM/SIGUSR1 write one byte to this pipe; a waiting thread reads
// it and stops the server gracefully (in-flight requests complete,
// acknowledged writes are committed). A handler, not sigwait: MPI starts
// threads of its own (a sharded bank), and a signal delivered to one of them
// must not take its default action. SIGUSR1 because mpirun forwards it to
// every rank (SIGINT/SIGTERM make mpirun end the job itself), so
// `kill -USR1 <mpirun pid>` is the graceful stop under mpirun; on ranks ≥ 1
// the byte is simply never read.
int g_stop_pipe[2] = {-1, -1};

extern "C" void on_stop_signal(int) {
  const char c = 1;
  (void)!::write(g_stop_pipe[1], &c, 1);
}

void install_stop_handlers() {
  if (::pipe(g_stop_pipe) != 0) throw msa::Error("msa serve: cannot create a pipe for signal handling");
  struct sigaction sa = {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  for (int sig : {SIGINT, SIGTERM, SIGUSR1}) sigaction(sig, &sa, nullptr);
}

struct ServeSettings {
  std::string host = "127.0.0.1", keys_file;
  int port = 8080;
  int64_t passage_tokens = -1;
  bool read_only = false;
  msa::server::ServerOptions so;
};

// Serves until a stop signal (install_stop_handlers).
int run_server(const msa::cli::Loaded& l, const msa::cli::ProductOptions& o, ServeSettings st,
               msa::engine::MemoryService& service, const std::string& note) {
  auto keys = st.keys_file.empty() ? msa::server::ApiKeys::open_access() : msa::server::ApiKeys::load(st.keys_file);
  st.so.interleave = l.interleave;
  st.so.default_max_tokens = o.max_tokens;
  st.so.max_tokens_limit = std::max(st.so.max_tokens_limit, o.max_tokens);
  msa::server::Server server(l.model, l.tokenizer, service, std::move(keys), st.so);
  const int bound = server.bind(st.host, st.port);
  std::thread waiter([&] {
    char c = 0;
    while (::read(g_stop_pipe[0], &c, 1) < 0 && errno == EINTR) {
    }
    if (c == 1) server.stop();
  });
  std::printf("msa serve: listening on http://%s:%d (%lld documents%s%s%s)\n", st.host.c_str(), bound,
              (long long)service.stats().documents, note.c_str(),
              st.keys_file.empty() ? ", open access: no --api-keys" : "", st.read_only ? ", read-only" : "");
  std::fflush(stdout);
  server.serve();
  // Wake the waiter if serve() ended for another reason.
  const char wake = 0;
  (void)!::write(g_stop_pipe[1], &wake, 1);
  waiter.join();
  std::printf("msa serve: stopped\n");
  std::fflush(stdout);
  return 0;
}

int serve(int argc, char** argv) {
  CLI::App app{"HTTP server: OpenAI-compatible chat over a memory bank, plus the memory write API."};
  msa::cli::ProductOptions o;
  o.add_to(app);
  ServeSettings st;
  msa::cli::ShardOptions shard_opts;
  auto& so = st.so;
  app.add_option("--host", st.host, "address to listen on (loopback only by default; 0.0.0.0 = every interface)")
      ->capture_default_str();
  app.add_option("--port,-p", st.port, "port (0 = any free port; a port in use is an error)")
      ->check(CLI::Range(0, 65535))
      ->capture_default_str();
  app.add_option("--api-keys", st.keys_file, "JSON file mapping API keys to namespaces (default: open access)");
  app.add_flag("--read-only", st.read_only, "no write API (does not take the bank's writer lock)");
  app.add_option("--max-concurrent", so.max_concurrent_generations, "concurrent generations before 429")
      ->check(CLI::Range(1, 1024))
      ->capture_default_str();
  app.add_option("--max-body-bytes", so.max_body_bytes, "largest request body (413 beyond)")->capture_default_str();
  app.add_option("--max-question-tokens", so.max_question_tokens, "longest question (400 beyond)")->capture_default_str();
  app.add_option("--max-tokens-limit", so.max_tokens_limit, "largest max_tokens a request may ask for")
      ->capture_default_str();
  app.add_option("--threads", so.http_threads, "HTTP worker threads")->check(CLI::Range(1, 1024))->capture_default_str();
  app.add_option("--cors", so.cors_origin,
                 "allow browser clients from this origin (Access-Control-Allow-Origin; \"*\" = any); default: no CORS");
  app.add_option("--model-name", so.model_name, "the model id clients send and /v1/models lists")->capture_default_str();
  app.add_option("--passage-tokens", st.passage_tokens,
                 "POSTed documents longer than this are stored as passages; 0 = never split "
                 "(default: the model's msa_passage_tokens, else 64)");
  app.add_flag("--ops-require-key", so.ops_require_key,
               "/health and /metrics need a valid API key too (default: open, for probes and scrapers)");
  shard_opts.add_to(app);
  CLI11_PARSE(app, argc, argv);
  install_stop_handlers();  // before MPI starts (sharded bank): every rank, every thread
  if (msa::distributed::is_sharded_bank(o.bank_dir))
    return msa::cli::run_sharded("serve", o, shard_opts, /*writer=*/!st.read_only, [&](msa::cli::ShardedProduct& p) {
      std::string note = ", " + std::to_string(p.memory.num_shards()) + " shards";
      if (!p.memory.missing().empty()) note += ", DEGRADED: " + std::to_string(p.memory.missing().size()) + " missing";
      return run_server(p.loaded, o, st, p.service, note);
    });
  auto l = msa::cli::load_product(o, /*writer=*/!st.read_only);
  st.so.passage_tokens =
      st.passage_tokens >= 0 ? st.passage_tokens : msa::memory::default_passage_tokens(l.model->dir());
  msa::engine::BankService service(l.bank, l.tokenizer, st.so.passage_tokens);
  return run_server(l, o, st, service, "");
}

}  // namespace

MSA_COMMAND("serve", "HTTP server (OpenAI-compatible chat + memory API) over a bank", serve);
