// `msa serve` driven by the official `openai` npm package (issue 16): the real
// binary over a small bank (the bundled niah-1 corpus, embedded model), and
// tests/product/openai_client.mjs checking non-streaming, streaming (the
// deltas join to exactly the non-streamed content, usage chunk),
// models.list(), typed errors and a streamed no-answer. Also: a second
// `msa serve` on the same port fails at startup with the reason.
// Needs node and scripts/fetch_openai_client.sh (scripts/test.sh runs it).
#include <gtest/gtest.h>

#include "cli_runner.h"
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <string>

extern char** environ;

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

using msa::test_util::shell_quote;

int run(const std::string& cmd, std::string* out) { return msa::test_util::run_command(cmd, out); }

// `msa serve` as a child process; its stdout is read until it says where it listens.
class ServeProcess {
 public:
  explicit ServeProcess(std::vector<std::string> args) {
    int fds[2];
    if (::pipe(fds) != 0) return;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 2);
    posix_spawn_file_actions_addclose(&fa, fds[0]);
    std::vector<char*> argv;
    args.insert(args.begin(), MSA_BINARY);
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    if (posix_spawn(&pid_, MSA_BINARY, &fa, nullptr, argv.data(), environ) != 0) pid_ = -1;
    posix_spawn_file_actions_destroy(&fa);
    ::close(fds[1]);
    out_ = fdopen(fds[0], "r");
  }
  ~ServeProcess() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      exit_status();
    }
    if (out_) fclose(out_);
  }
  // The port from "listening on http://HOST:PORT", or -1 when it exits first (output in *log).
  int port(std::string* log) {
    std::array<char, 1024> line{};
    const std::regex re(R"(listening on http://[^:]+:(\d+))");
    while (out_ && fgets(line.data(), int(line.size()), out_)) {
      *log += line.data();
      std::cmatch m;
      if (std::regex_search(line.data(), m, re)) return std::stoi(m[1].str());
    }
    return -1;
  }
  int exit_status() {
    int st = 0;
    if (pid_ > 0 && waitpid(pid_, &st, 0) == pid_) {
      pid_ = -1;
      return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    }
    return -1;
  }
  std::string rest() {
    std::string s;
    std::array<char, 1024> line{};
    while (out_ && fgets(line.data(), int(line.size()), out_)) s += line.data();
    return s;
  }

 private:
  pid_t pid_ = -1;
  FILE* out_ = nullptr;
};

TEST(OpenAIClient, OfficialSdkAgainstMsaServe) {
  const fs::path pkg = fs::path(MSA_SOURCE_DIR) / ".cache" / "openai-client";
  if (std::system("node --version > /dev/null 2>&1") != 0) GTEST_SKIP() << "node not found";
  if (!fs::exists(pkg / "node_modules" / "openai" / "package.json"))
    GTEST_SKIP() << "the openai npm package is not installed: run scripts/fetch_openai_client.sh";
  const std::string msa = MSA_BINARY;
  const fs::path model = fs::path(MSA_SOURCE_DIR) / "models" / "msa-tiny";
  const fs::path bank = fs::temp_directory_path() / ("msa_openai_client_" + std::to_string(::getpid()));
  fs::remove_all(bank);
  std::string out;
  ASSERT_EQ(run(msa + " bank create " + bank.string(), &out), 0) << out;
  const fs::path corpus = fs::path(MSA_SOURCE_DIR) / "data" / "demo" / "niah-1";
  ASSERT_EQ(run(msa + " bank add -q " + bank.string() + " " + (corpus / "docs.jsonl").string(), &out), 0) << out;

  // A question the embedded model answers over this bank (msa ask exits 0 then).
  std::string question;
  std::ifstream qs(corpus / "questions.jsonl");
  for (std::string line; std::getline(qs, line) && question.empty();) {
    const std::string q = json::parse(line)["question"];
    if (run(msa + " ask --bank " + bank.string() + " " + shell_quote(q), &out) == 0) question = q;
  }
  ASSERT_FALSE(question.empty()) << "the embedded model answered none of the demo questions";

  ServeProcess serve({"serve", "--bank", bank.string(), "--port", "0", "--max-concurrent", "8"});
  std::string log;
  const int port = serve.port(&log);
  ASSERT_GT(port, 0) << log << serve.rest();

  // A second server on the same port is refused at startup, with the reason.
  {
    ServeProcess second({"serve", "--bank", bank.string(), "--read-only", "--port", std::to_string(port)});
    std::string second_log;
    EXPECT_EQ(second.port(&second_log), -1) << "a second msa serve listens on a port in use: " << second_log;
    EXPECT_EQ(second.exit_status(), 1);
    EXPECT_NE(second_log.find("in use"), std::string::npos) << second_log;
  }

  const std::string cmd = "node " + shell_quote(std::string(MSA_SOURCE_DIR) + "/tests/product/openai_client.mjs") + " " +
                          shell_quote("http://127.0.0.1:" + std::to_string(port) + "/v1") + " " +
                          shell_quote(pkg.string()) + " " + shell_quote(question);
  const int rc = run(cmd, &out);
  EXPECT_EQ(rc, 0) << out;
  std::printf("openai client: %s\n", out.c_str());
  fs::remove_all(bank);
}

}  // namespace
