// msa serve --bank B [--model M] --host 127.0.0.1 --port P [--api-keys FILE]
#include <pthread.h>

#include <csignal>
#include <cstdio>
#include <thread>

#include "cli/command.h"
#include "cli/product_common.h"
#include "engine/bank_service.h"
#include "server/server.h"

namespace {

int serve(int argc, char** argv) {
  CLI::App app{"HTTP server: OpenAI-compatible chat over a memory bank, plus the memory write API."};
  msa::cli::ProductOptions o;
  o.add_to(app);
  std::string host = "127.0.0.1", keys_file;
  int port = 8080;
  bool read_only = false;
  msa::server::ServerOptions so;
  app.add_option("--host", host, "address to listen on");
  app.add_option("--port,-p", port, "port (0 = any free port)")->check(CLI::Range(0, 65535));
  app.add_option("--api-keys", keys_file, "JSON file mapping API keys to namespaces (default: open access)");
  app.add_flag("--read-only", read_only, "no write API (does not take the bank's writer lock)");
  app.add_option("--max-concurrent", so.max_concurrent_generations, "concurrent generations before 429")->check(CLI::Range(1, 1024));
  app.add_option("--max-body-bytes", so.max_body_bytes, "largest request body (413 beyond)");
  app.add_option("--max-question-tokens", so.max_question_tokens, "longest question (400 beyond)");
  app.add_option("--max-tokens-limit", so.max_tokens_limit, "largest max_tokens a request may ask for");
  app.add_option("--threads", so.http_threads, "HTTP worker threads")->check(CLI::Range(1, 1024));
  CLI11_PARSE(app, argc, argv);
  // SIGINT/SIGTERM are taken by a waiting thread (not a handler), which stops
  // the server gracefully: in-flight requests complete, acknowledged writes are committed.
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
  auto l = msa::cli::load_product(o, /*writer=*/!read_only);
  msa::engine::BankService service(l.bank);
  auto keys = keys_file.empty() ? msa::server::ApiKeys::open_access() : msa::server::ApiKeys::load(keys_file);
  so.interleave = l.interleave;
  so.default_max_tokens = o.max_tokens;
  so.max_tokens_limit = std::max(so.max_tokens_limit, o.max_tokens);
  msa::server::Server server(l.model, l.tokenizer, service, std::move(keys), so);
  const int bound = server.bind(host, port);
  std::thread waiter([&] {
    int sig = 0;
    sigwait(&sigs, &sig);
    if (sig != 0) server.stop();
  });
  std::printf("msa serve: listening on http://%s:%d (%lld documents%s%s)\n", host.c_str(), bound,
              (long long)service.stats().documents, keys_file.empty() ? ", open access: no --api-keys" : "",
              read_only ? ", read-only" : "");
  std::fflush(stdout);
  server.serve();
  // Wake the waiter if serve() ended for another reason.
  pthread_kill(waiter.native_handle(), SIGTERM);
  waiter.join();
  std::printf("msa serve: stopped\n");
  return 0;
}

}  // namespace

MSA_COMMAND("serve", "HTTP server (OpenAI-compatible chat + memory API) over a bank", serve);
