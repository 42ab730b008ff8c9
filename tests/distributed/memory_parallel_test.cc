// Memory parallel (issue 8): `msa ask` over a bank split into 2 and 3 shards,
// run under mpirun on loopback, must print exactly what the single-process
// `msa ask --json` prints over the unsplit bank (same selected documents and
// scores per layer and round, same tokens, same answer), timings aside.
// Failure handling: a damaged shard is a clear error (or, with
// --allow-missing-shards, an answer naming the missing shard), never a hang.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "../product/product_test_util.h"
#include "mp_test_util.h"

namespace fs = std::filesystem;
using nlohmann::json;

using msa::test_util::have_mpirun;

namespace {

struct Run {
  int rc = -1;
  std::string out;
};

Run run(const std::string& cmd) {
  Run r;
  FILE* p = ::popen((cmd + " 2>/tmp/msa_mp_test_stderr_" + std::to_string(::getpid())).c_str(), "r");
  if (!p) return r;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) r.out.append(buf.data(), n);
  const int st = ::pclose(p);
  r.rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

std::string last_stderr() {
  std::ifstream f("/tmp/msa_mp_test_stderr_" + std::to_string(::getpid()));
  return std::string(std::istreambuf_iterator<char>(f), {});
}

std::string q(const fs::path& p) { return "'" + p.string() + "'"; }

std::string mpirun(int np) { return "timeout 300 " + msa::test_util::mpirun_msa(np); }

json without_timings(const std::string& out) {
  json j = json::parse(out, nullptr, false);
  if (j.is_object()) j.erase("timings_ms");
  return j;
}

class MemoryParallel : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!have_mpirun()) return;
    root_ = fs::temp_directory_path() / ("msa_mp_" + std::to_string(::getpid()));
    fs::remove_all(root_);
    fs::create_directories(root_);
    model_ = msa::test_util::random_tiny_model_dir("mp");
    msa::test_util::write_mp_corpus(root_ / "docs.jsonl");
    bank_ = root_ / "bank";
    const std::string msa = MSA_BINARY;
    ASSERT_EQ(run(msa + " bank create " + q(bank_) + " --model " + q(model_)).rc, 0) << last_stderr();
    ASSERT_EQ(run(msa + " bank add -q " + q(bank_) + " " + q(root_ / "docs.jsonl")).rc, 0) << last_stderr();
    for (int n : {2, 3})
      ASSERT_EQ(run(msa + " bank split " + q(bank_) + " --shards " + std::to_string(n) + " --out " +
                    q(root_ / ("s" + std::to_string(n))))
                    .rc,
                0)
          << last_stderr();
  }
  static void TearDownTestSuite() {
    if (!root_.empty()) fs::remove_all(root_);
    if (!model_.empty()) fs::remove_all(model_);
  }
  void SetUp() override {
    if (!have_mpirun()) GTEST_SKIP() << "mpirun not found (apt-get install openmpi-bin libopenmpi-dev)";
  }
  std::string ask_args(const std::string& extra) const {
    return " ask --model " + q(model_) + " --json --top-k 3 --rounds 2 --max-tokens 24 " + extra +
           " 'Where is the copper stone?'";
  }
  static inline fs::path root_, model_, bank_;
};

TEST_F(MemoryParallel, SplitWritesManifestAndPartitionsById) {
  for (int n : {2, 3}) {
    const fs::path s = root_ / ("s" + std::to_string(n));
    ASSERT_TRUE(fs::exists(s / "msa-shards.json"));
    int64_t total = 0;
    for (int k = 0; k < n; ++k) {
      const auto r = run(std::string(MSA_BINARY) + " bank list --json " + q(s / fmt::format("shard-{:03d}", k)));
      ASSERT_EQ(r.rc, 0) << last_stderr();
      for (const auto& d : json::parse(r.out)) {
        EXPECT_EQ(d["id"].get<int64_t>() % n, k);
        ++total;
      }
      EXPECT_EQ(run(std::string(MSA_BINARY) + " bank verify " + q(s / fmt::format("shard-{:03d}", k))).rc, 0);
    }
    EXPECT_EQ(total, 14);
  }
}

TEST_F(MemoryParallel, AskIdenticalToSingleProcess) {
  for (const std::string& ns : {std::string(""), std::string("--namespace team-a")}) {
    const auto one = run(std::string(MSA_BINARY) + ask_args(ns + " --bank " + q(bank_)));
    ASSERT_TRUE(one.rc == 0 || one.rc == 3) << last_stderr();  // 3: no answer (docs/usage.md)
    const json want = without_timings(one.out);
    ASSERT_TRUE(want.is_object()) << one.out;
    ASSERT_FALSE(want["rounds"].empty());
    for (int n : {2, 3}) {
      const auto r = run(mpirun(n) + ask_args(ns + " --bank " + q(root_ / ("s" + std::to_string(n)))));
      ASSERT_EQ(r.rc, one.rc) << "np " << n << ": " << last_stderr();
      EXPECT_EQ(without_timings(r.out).dump(1), want.dump(1)) << "np " << n << " " << ns;
      // Only rank 0 prints: exactly one line of JSON.
      EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1) << r.out;
    }
  }
}

TEST_F(MemoryParallel, SingleProcessOverShardedBankAlsoIdentical) {
  // Without mpirun, one process opens every shard (no MPI at all).
  const auto one = run(std::string(MSA_BINARY) + ask_args(" --bank " + q(bank_)));
  ASSERT_TRUE(one.rc == 0 || one.rc == 3) << last_stderr();  // 3: no answer (docs/usage.md)
  const auto r = run(std::string(MSA_BINARY) + ask_args(" --bank " + q(root_ / "s3")));
  ASSERT_EQ(r.rc, one.rc) << last_stderr();
  EXPECT_EQ(without_timings(r.out).dump(1), without_timings(one.out).dump(1));
}

TEST_F(MemoryParallel, MergeIsTheInverseOfSplit) {
  const fs::path merged = root_ / "merged";
  fs::remove_all(merged);
  const std::string msa = MSA_BINARY;
  ASSERT_EQ(run(msa + " bank merge " + q(root_ / "s3") + " --out " + q(merged)).rc, 0) << last_stderr();
  EXPECT_EQ(run(msa + " bank verify " + q(merged)).rc, 0) << last_stderr();
  const auto a = run(msa + " bank list --json " + q(bank_));
  const auto b = run(msa + " bank list --json " + q(merged));
  EXPECT_EQ(b.out, a.out);
  const auto one = run(msa + ask_args(" --bank " + q(bank_)));
  const auto two = run(msa + ask_args(" --bank " + q(merged)));
  ASSERT_EQ(two.rc, one.rc) << last_stderr();
  EXPECT_EQ(without_timings(two.out).dump(1), without_timings(one.out).dump(1));
}

TEST_F(MemoryParallel, DamagedShardIsAClearErrorOrADegradedAnswer) {
  const fs::path s = root_ / "s2_damaged";
  fs::remove_all(s);
  fs::copy(root_ / "s2", s, fs::copy_options::recursive);
  // Flip one byte in the middle of shard 1's segment file.
  fs::path seg;
  for (auto& e : fs::directory_iterator(s / "shard-001" / "segments")) seg = e.path();
  ASSERT_FALSE(seg.empty());
  {
    std::fstream f(seg, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(0, std::ios::end);
    const auto size = int64_t(f.tellg());
    f.seekp(size - 100);
    char c = 0;
    f.read(&c, 1);
    f.seekp(size - 100);
    c = char(c ^ 0x5a);
    f.write(&c, 1);
  }
  auto r = run(mpirun(2) + ask_args(" --mpi-timeout 30 --bank " + q(s)));
  EXPECT_NE(r.rc, 0);
  const std::string err = last_stderr();
  EXPECT_NE(err.find("shard 1"), std::string::npos) << err;
  EXPECT_NE(err.find("--allow-missing-shards"), std::string::npos) << err;

  r = run(mpirun(2) + ask_args(" --mpi-timeout 30 --allow-missing-shards --bank " + q(s)));
  ASSERT_TRUE(r.rc == 0 || r.rc == 3) << last_stderr();  // 3: no answer (docs/usage.md)
  const json j = json::parse(r.out, nullptr, false);
  ASSERT_TRUE(j.is_object()) << r.out;
  ASSERT_TRUE(j.contains("missing_shards"));
  EXPECT_NE(j["missing_shards"][0].get<std::string>().find("shard 1"), std::string::npos);
  for (const auto& round : j["rounds"])
    for (const auto& [layer, docs] : round["selected"].items())
      for (const auto& d : docs) EXPECT_EQ(d[0].get<int64_t>() % 2, 0) << "doc of the missing shard selected";
}

TEST_F(MemoryParallel, HungRankIsAnErrorNotAHang) {
  const auto t0 = std::chrono::steady_clock::now();
  const auto r = run("MSA_MP_STALL_RANK=1 " + mpirun(2) + ask_args(" --mpi-timeout 2 --bank " + q(root_ / "s2")));
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_NE(r.rc, 0);
  EXPECT_NE(r.rc, 124) << "timed out: the job hung";
  EXPECT_LT(s, 60.0);
  const std::string err = last_stderr();
  EXPECT_NE(err.find("rank 1 did not answer"), std::string::npos) << err;
}

TEST_F(MemoryParallel, EmbeddedModel) {
  const fs::path embedded = fs::path(MSA_SOURCE_DIR) / "models" / "msa-tiny";
  if (!fs::exists(embedded / "config.json")) GTEST_SKIP() << "no embedded model at " << embedded;
  const std::string msa = MSA_BINARY;
  const fs::path b = root_ / "bank_embedded", s = root_ / "s2_embedded";
  fs::remove_all(b);
  fs::remove_all(s);
  ASSERT_EQ(run(msa + " bank create " + q(b)).rc, 0) << last_stderr();
  ASSERT_EQ(run(msa + " bank add -q " + q(b) + " " + q(root_ / "docs.jsonl")).rc, 0) << last_stderr();
  ASSERT_EQ(run(msa + " bank split " + q(b) + " --shards 2 --out " + q(s)).rc, 0) << last_stderr();
  const std::string args = " ask --json --top-k 3 --rounds 2 --max-tokens 32 'Where is the copper stone?'";
  const auto one = run(msa + args + " --bank " + q(b));
  ASSERT_TRUE(one.rc == 0 || one.rc == 3) << last_stderr();  // 3: no answer (docs/usage.md)
  for (int n : {2, 3}) {
    if (n == 3) {
      fs::remove_all(s);
      ASSERT_EQ(run(msa + " bank split " + q(b) + " --shards 3 --out " + q(s)).rc, 0) << last_stderr();
    }
    const auto r = run(mpirun(n) + args + " --bank " + q(s));
    ASSERT_EQ(r.rc, one.rc) << last_stderr();
    EXPECT_EQ(without_timings(r.out).dump(1), without_timings(one.out).dump(1)) << "np " << n;
  }
}

}  // namespace
