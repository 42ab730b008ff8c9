// Crash safety of the bank write path: the real `msa bank add` is killed with
// SIGKILL at random moments (≥ 50 times). After each kill the bank must open,
// pass full verification, hold exactly a prefix of whole committed batches,
// and a resumed `msa bank add` of the same file must complete with exactly
// every document (docs/bank-format.md §Commit protocol, §Resume).
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <random>
#include <thread>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/error.h"
#include "memory/bank.h"
#include "bank_test_util.h"

using namespace msa::memory;
namespace fs = std::filesystem;

namespace {

constexpr int kDocs = 16, kBatch = 4;

pid_t spawn_add(const std::string& bank, const std::string& jsonl) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    const int null = ::open("/dev/null", O_WRONLY);
    ::dup2(null, 1);
    ::dup2(null, 2);
    const std::string batch = std::to_string(kBatch);
    // Whole documents (no passages): item i must become document i.
    ::execl(MSA_BINARY, MSA_BINARY, "bank", "add", bank.c_str(), jsonl.c_str(), "--batch-docs", batch.c_str(),
            "--passage-tokens", "0", "--quiet", (char*)nullptr);
    ::_exit(127);
  }
  return pid;
}

// Manifest generation on disk (-1 while unreadable): the number of commits so far.
int64_t manifest_generation(const std::string& bank) {
  std::ifstream f(bank + "/MANIFEST");
  std::string s((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  const size_t at = s.find("\"generation\":");
  return at == std::string::npos ? -1 : std::atoll(s.c_str() + at + 13);
}

int wait_exit(pid_t pid) {
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
}

// Number of documents, after checking they are exactly input items 0..n-1 with ids 0..n-1.
int64_t check_prefix(const std::string& bank, const std::vector<std::string>& texts) {
  Bank::verify_dir(bank);
  auto b = Bank::open(bank, {});
  const auto docs = b->list();
  for (size_t i = 0; i < docs.size(); ++i) {
    EXPECT_EQ(docs[i].doc_id, int64_t(i));
    EXPECT_EQ(b->document(docs[i].doc_id)->text, texts[i]) << "document " << i;
  }
  EXPECT_EQ(b->snapshot_all()->num_docs(), int64_t(docs.size()));
  return int64_t(docs.size());
}

}  // namespace

TEST(BankCrash, SigkillDuringIngestLeavesACommittedPrefixAndResumes) {
  REQUIRE_TOKENIZER();
  const std::string model = bank_test::tiny_model("crash", 2);
  const fs::path root = bank_test::temp_dir("crash");
  fs::create_directories(root);
  const std::string empty = (root / "empty").string(), work = (root / "work").string();
  Bank::create(empty, model);
  // Half the documents carry external ids (resume by id), half not (by content hash).
  std::mt19937_64 r(11);
  std::vector<std::string> texts;
  const std::string jsonl = (root / "docs.jsonl").string();
  {
    std::ofstream f(jsonl);
    for (int i = 0; i < kDocs; ++i) {
      texts.push_back(bank_test::random_text(r, 20, 60));
      if (i % 2) f << "{\"text\": \"" << texts.back() << "\"}\n";
      else f << "{\"id\": \"doc-" << i << "\", \"text\": \"" << texts.back() << "\"}\n";
    }
  }
  auto fresh = [&] {
    fs::remove_all(work);
    fs::copy(empty, work, fs::copy_options::recursive);
  };
  // Duration of an uninterrupted ingest sets the range of kill delays.
  fresh();
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_EQ(wait_exit(spawn_add(work, jsonl)), 0);
  const double full_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_EQ(check_prefix(work, texts), kDocs);
  const double commit_ms = full_ms / (kDocs / kBatch + 1);

  std::vector<int> seen(kDocs / kBatch + 1, 0);
  const int kills = 50;
  for (int it = 0; it < kills; ++it) {
    fresh();
    const pid_t pid = spawn_add(work, jsonl);
    // A random commit to reach (polling the manifest), then a random delay of
    // up to ~1.5 commits: kills land before, inside and after every commit step.
    const int64_t target = int64_t(r() % (kDocs / kBatch));
    while (manifest_generation(work) < target && ::waitpid(pid, nullptr, WNOHANG) == 0)
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    const int delay_us = int(std::uniform_real_distribution<double>(0.0, 1.5)(r) * commit_ms * 1000);
    std::this_thread::sleep_for(std::chrono::microseconds(delay_us));
    ::kill(pid, SIGKILL);
    wait_exit(pid);
    int64_t n = -1;
    try {
      n = check_prefix(work, texts);
    } catch (const msa::Error& e) {
      FAIL() << "after kill " << it << " (" << delay_us << " us): " << e.what();
    }
    ASSERT_EQ(n % kBatch, 0) << "not a prefix of whole batches after kill " << it;
    seen[size_t(n / kBatch)]++;
    ASSERT_EQ(wait_exit(spawn_add(work, jsonl)), 0) << "resumed ingest failed after kill " << it;
    ASSERT_EQ(check_prefix(work, texts), kDocs) << "after resume " << it;
  }
  std::string hist;
  for (size_t i = 0; i < seen.size(); ++i) hist += std::to_string(i * kBatch) + ":" + std::to_string(seen[i]) + " ";
  std::printf("full ingest %.0f ms; committed documents at kill time (count:kills) %s\n", full_ms, hist.c_str());
  int distinct = 0;
  for (int s : seen) distinct += s > 0;
  EXPECT_GE(distinct, 2) << "kills should land at several points of the ingest";
  fs::remove_all(root);
}
