// msa eval and the product path answer the same: the same kb questions asked
// through `msa bank create` + `msa bank add` + `msa ask --json` (what a user
// runs) give, question by question, the predictions `msa eval --bank-path
// persistent --answers` reports, hence the same accuracy (issue: eval numbers
// must be the product's numbers).
#include <gtest/gtest.h>

#include "cli_runner.h"

#include <array>
#include <cctype>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

using msa::test_util::read_jsonl;
using msa::test_util::shell_quote;

int run(const std::string& cmd, std::string* out) { return msa::test_util::run_command(cmd, out, false); }

TEST(EvalProductParity, KbQuestionsGetTheSameAnswersThroughAskAsInEval) {
  const fs::path model = fs::path(MSA_SOURCE_DIR) / "models" / "msa-tiny";
  ASSERT_TRUE(fs::exists(model / "config.json"));
  const fs::path dir = fs::temp_directory_path() / ("msa_eval_parity_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::string msa = MSA_BINARY, m = " --model " + model.string();
  const std::string task = " --task kb --seed 5 --questions 8";
  std::string out;
  ASSERT_EQ(run(msa + " gen-data" + task + " --memory-tokens 1500 --out " + (dir / "data").string(), &out), 0) << out;
  ASSERT_EQ(run(msa + " eval" + m + task + " --sizes 1500 --bank-path persistent --answers " +
                    (dir / "answers.jsonl").string(),
                &out),
            0)
      << out;
  const std::vector<json> eval_answers = read_jsonl(dir / "answers.jsonl");
  const std::vector<json> questions = read_jsonl(dir / "data" / "questions.jsonl");
  ASSERT_EQ(eval_answers.size(), 8u);
  ASSERT_EQ(questions.size(), 8u);

  const fs::path bank = dir / "bank";
  ASSERT_EQ(run(msa + " bank create " + bank.string() + m, &out), 0) << out;
  ASSERT_EQ(run(msa + " bank add " + bank.string() + " " + (dir / "data" / "docs.jsonl").string() + " --quiet", &out), 0)
      << out;
  double eval_score = 0, ask_score = 0;
  for (size_t i = 0; i < questions.size(); ++i) {
    const std::string q = questions[i]["question"].get<std::string>();
    ASSERT_EQ(eval_answers[i]["question"].get<std::string>(), q);
    run(msa + " ask --json --bank " + bank.string() + m + " " + shell_quote(q), &out);  // exit 0 or "no answer"
    const json j = json::parse(out, nullptr, false);
    ASSERT_FALSE(j.is_discarded()) << out;
    const std::string predicted = eval_answers[i]["prediction"].get<std::string>();
    EXPECT_EQ(j.value("answer", std::string()), predicted) << "question " << i << ": " << q;
    const std::string ref = questions[i]["answer"].get<std::string>();
    eval_score += eval_answers[i]["score"].get<double>();
    std::string got = j.value("answer", std::string());
    for (char& c : got) c = char(std::tolower(static_cast<unsigned char>(c)));
    ask_score += got.find(ref) != std::string::npos ? 1.0 : 0.0;  // string_match_all of one value
  }
  EXPECT_EQ(ask_score, eval_score);
  fs::remove_all(dir);
}

}  // namespace
