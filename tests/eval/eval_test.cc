// msa eval harness end to end on a random tiny MSA model with the tiny
// tokenizer: sizes, metric lines, CSV, PNG. No accuracy thresholds (random
// weights); only chance-level sanity and the harness's bookkeeping.
#include <gtest/gtest.h>

#include <sys/resource.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "core/dtype.h"
#include "data/task_io.h"
#include "eval/evaluator.h"
#include "eval/plot.h"
#include "eval/png.h"
#include "model/random_checkpoint.h"

namespace fs = std::filesystem;

namespace msa::eval {
namespace {

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A random tiny MSA checkpoint with the committed tiny tokenizer (P = 16, k = 4).
fs::path random_tiny_model() {
  static const fs::path dir = [] {
    fs::path d = fs::temp_directory_path() / ("msa_eval_model_" + std::to_string(::getpid()));
    auto cfg = model::preset_config("tiny");
    cfg.vocab_size = 2880;  // >= the tiny tokenizer's 2869 ids
    cfg.msa.pooling_kernel_size = 16;
    cfg.msa.top_k_docs = 4;
    cfg.msa.doc_top_k = 4;
    cfg.msa.has_doc_top_k = true;
    model::write_random_checkpoint(cfg, d.string(), {DType::F32, 1, 5, 0.2f});
    fs::copy_file(fs::path(MSA_SOURCE_DIR) / "models/msa-tiny/tokenizer.json", d / "tokenizer.json",
                  fs::copy_options::overwrite_existing);
    return d;
  }();
  return dir;
}

TEST(Eval, StringMatchAll) {
  EXPECT_EQ(string_match_all("The answer is 4821", "4821"), 1.0);
  EXPECT_EQ(string_match_all("1111 and 2222", "1111, 3333"), 0.5);
  EXPECT_EQ(string_match_all("", "1111"), 0.0);
}

TEST(Eval, NiahHarnessEndToEnd) {
  EvalOptions o;
  o.model_dir = random_tiny_model();
  o.task = data::Task::kNiah;
  o.sizes = {8192, 2048};  // unsorted on purpose
  o.questions = 4;
  o.seed = 3;
  o.evidence_slot_limit = 40;  // gold ids of 1-2 digits at both sizes
  o.max_round_tokens = 8;
  o.max_total_tokens = 24;
  int log_lines = 0;
  o.log = [&](const std::string&) { ++log_lines; };
  EvalReport r = run_eval(o);
  EXPECT_GT(log_lines, 0);
  EXPECT_TRUE(r.random_weights);
  EXPECT_EQ(r.top_k, 4);
  ASSERT_EQ(r.sizes.size(), 2u);
  EXPECT_EQ(r.sizes[0].memory_tokens, 2048);
  EXPECT_EQ(r.sizes[1].memory_tokens, 8192);
  for (const auto& s : r.sizes) {
    EXPECT_EQ(s.questions, 4);
    // Within one document, give or take the needle documents (a little shorter than filler).
    EXPECT_NEAR(double(s.actual_tokens), double(s.memory_tokens), 80.0);
    EXPECT_EQ(s.num_docs, int64_t(data::generate_haystack(3, s.memory_tokens).size()));
    ASSERT_EQ(s.layers.size(), 2u);  // routing layers 2, 3
    EXPECT_EQ(s.layers[0].layer, 2);
    for (double v : {s.answer_acc, s.id_acc, s.recall_at_k, s.layers[0].recall_at_k, s.layers[1].recall_at_1}) {
      EXPECT_GE(v, 0.0);
      EXPECT_LE(v, 1.0);
    }
    // Recall over the union of layers is at least each layer's.
    EXPECT_GE(s.recall_at_k + 1e-9, s.layers[0].recall_at_k);
    EXPECT_TRUE(std::isnan(s.answer_acc_single_round));  // ablations are for hop tasks
    int64_t by_digits_total = 0;
    for (const auto& [d, ct] : s.id_acc_by_digits) by_digits_total += ct.second;
    EXPECT_EQ(by_digits_total, s.questions);
  }
  const std::string metrics = format_metrics(r);
  EXPECT_NE(metrics.find("metric: niah_acc_2k = "), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("metric: niah_acc_8k = "), std::string::npos);
  EXPECT_NE(metrics.find("metric: recall_at_k_8k = "), std::string::npos);
  const std::string csv = format_csv(r);
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 3);
  EXPECT_EQ(csv.rfind("task,protocol,size,memory_tokens,docs,chunks,questions,acc,acc_ci95_low,acc_ci95_high,", 0), 0u);
  EXPECT_NE(csv.find("\nniah,per-question,2k,"), std::string::npos) << csv;
  EXPECT_NE(metrics.find("metric: niah_acc_8k_ci95_low = "), std::string::npos);
  EXPECT_NE(metrics.find("metric: recall_at_1_L"), std::string::npos);
  EXPECT_NE(format_table(r).find("protocol: per question"), std::string::npos);
  EXPECT_NE(format_table(r).find("RANDOM"), std::string::npos);
  for (const auto& s : r.sizes)
    for (const auto& [d, ct] : s.id_acc_by_digits) EXPECT_LE(d, 2);
}

TEST(Eval, WilsonInterval) {
  // Known values: 50/50 -> [0.929, 1]; 25/50 -> [0.366, 0.634]; 0/50 -> [0, 0.071].
  auto [lo1, hi1] = wilson_interval95(1.0, 50);
  EXPECT_NEAR(lo1, 0.9287, 1e-3);
  EXPECT_DOUBLE_EQ(hi1, 1.0);
  auto [lo2, hi2] = wilson_interval95(0.5, 50);
  EXPECT_NEAR(lo2, 0.3664, 1e-3);
  EXPECT_NEAR(hi2, 0.6336, 1e-3);
  auto [lo3, hi3] = wilson_interval95(0.0, 50);
  EXPECT_NEAR(lo3, 0.0, 1e-12);
  EXPECT_NEAR(hi3, 0.0713, 1e-3);
}

TEST(Eval, HopAblationsAndCli) {
  const fs::path dir = fs::temp_directory_path() / ("msa_eval_cli_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const std::string cmd = std::string(MSA_BINARY) + " eval --model " + random_tiny_model().string() +
                          " --task hop2 --sizes 2k,4k --questions 3 --seed 1 --max-round-tokens 6 "
                          "--max-total-tokens 16 --csv " + (dir / "r.csv").string() + " --plot " +
                          (dir / "r.png").string() + " > " + (dir / "out.txt").string() + " 2> " +
                          (dir / "err.txt").string();
  ASSERT_EQ(std::system(cmd.c_str()), 0) << read_file(dir / "err.txt");
  const std::string out = read_file(dir / "out.txt");
  for (const char* m : {"metric: hop2_acc_2k = ", "metric: hop2_acc_4k = ", "metric: recall_at_k_2k = ",
                        "metric: recall_at_k_4k = ", "metric: hop2_acc_interleave = ",
                        "metric: hop2_acc_single_round = ", "metric: hop2_acc_no_text = "})
    EXPECT_NE(out.find(m), std::string::npos) << m << "\n" << out;
  // The metric lines come last.
  std::string last_line = out.substr(out.rfind('\n', out.size() - 2) + 1);
  EXPECT_EQ(last_line.rfind("metric: ", 0), 0u) << last_line;
  const std::string csv = read_file(dir / "r.csv");
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 3);
  const std::string png = read_file(dir / "r.png");
  ASSERT_GT(png.size(), 100u);
  EXPECT_EQ(png.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
  EXPECT_EQ(png.substr(12, 4), "IHDR");
  EXPECT_EQ(png.substr(png.size() - 8, 4), "IEND");
  // Bad input is a clear error.
  const std::string bad = std::string(MSA_BINARY) + " eval --model " + random_tiny_model().string() +
                          " --task nope 2>/dev/null";
  EXPECT_NE(std::system(bad.c_str()), 0);
  fs::remove_all(dir);
}

// Encoding a large memory keeps the heap near the live data (core/allocator.h):
// before the fix glibc's growing mmap threshold fragmented the heap to ~150 KB
// per ~5 KB document (256k tokens: 950 MB; an eval at 7M tokens was OOM-killed).
TEST(Eval, EncodingMemoryStaysNearTheLiveData) {
  const std::string cmd = std::string(MSA_BINARY) + " eval --model " + random_tiny_model().string() +
                          " --task niah --sizes 256k --questions 2 --seed 1 > /dev/null 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  struct rusage ru {};
  ASSERT_EQ(getrusage(RUSAGE_CHILDREN, &ru), 0);
  const double max_rss_mb = double(ru.ru_maxrss) / 1024.0;  // KiB on Linux
  EXPECT_LT(max_rss_mb, 400.0) << "6 280 documents of ~5 KB each should not need " << max_rss_mb << " MB";
}

TEST(Eval, PngEncoderAndPlot) {
  Image img(3, 2, 0x102030);
  img.set(1, 1, 0xFF0000);
  EXPECT_EQ(img.get(1, 1), 0xFF0000u);
  EXPECT_EQ(img.get(0, 0), 0x102030u);
  const std::string png = encode_png(img);
  EXPECT_EQ(png.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
  LinePlot p;
  p.title = "t";
  p.x = {16384, 65536, 1048576};
  p.x_ticks = {"16k", "64k", "1m"};
  p.series = {{"acc", {1.0, 0.5, std::nan("")}}};
  Image plot = render_plot(p, 400, 300);
  int colored = 0;
  for (int y = 0; y < plot.height; ++y)
    for (int x = 0; x < plot.width; ++x) colored += plot.get(x, y) == 0x0072B2u;  // first series colour
  EXPECT_GT(colored, 50);
}

}  // namespace
}  // namespace msa::eval

namespace msa::eval {
namespace {

// Issue 18 item 7: the evaluator can route over the product's memory path (a
// persistent bank: bf16 keys and K/V) and every output names the path.
TEST(Eval, PersistentBankPathIsUsedAndReported) {
  EvalOptions o;
  o.model_dir = random_tiny_model();
  o.task = data::Task::kNiah;
  o.sizes = {2048};
  o.questions = 3;
  o.seed = 5;
  o.evidence_slot_limit = 40;
  o.max_round_tokens = 8;
  o.max_total_tokens = 24;
  const fs::path work = fs::temp_directory_path() / ("msa_eval_work_" + std::to_string(::getpid()));
  fs::create_directories(work);
  o.work_dir = work;
  std::string log;
  o.log = [&](const std::string& line) { log += line + "\n"; };
  const EvalReport in_memory = run_eval(o);
  EXPECT_EQ(in_memory.bank_path, "in-memory-f32");
  o.bank_path = BankPath::kPersistent;
  log.clear();
  const EvalReport persistent = run_eval(o);
  EXPECT_EQ(persistent.bank_path, "persistent-bf16");
  EXPECT_NE(log.find("routing over a persistent bank"), std::string::npos) << log;
  EXPECT_TRUE(fs::is_empty(work)) << "temporary banks were left in " << work;
  // The same memory, stored differently.
  ASSERT_EQ(persistent.sizes.size(), 1u);
  EXPECT_EQ(persistent.sizes[0].num_docs, in_memory.sizes[0].num_docs);
  EXPECT_EQ(persistent.sizes[0].num_chunks, in_memory.sizes[0].num_chunks);
  EXPECT_EQ(persistent.sizes[0].questions, 3);
  const std::string csv = format_csv(persistent);
  EXPECT_NE(csv.find(",bank_path\n"), std::string::npos) << csv;
  EXPECT_NE(csv.find(",persistent-bf16\n"), std::string::npos) << csv;
  EXPECT_NE(format_table(persistent).find("memory persistent-bf16"), std::string::npos);
  EXPECT_NE(format_table(in_memory).find("memory in-memory-f32"), std::string::npos);
  fs::remove_all(work);
}

}  // namespace
}  // namespace msa::eval
