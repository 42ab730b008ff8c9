// `msa tokenize` end to end: encode, --special, --decode, and the bad-line
// policy (error on stderr naming the line, other lines still processed, exit 1).
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

namespace {

std::string qwen_path() { return std::string(MSA_SOURCE_DIR) + "/.cache/tokenizers/qwen3/tokenizer.json"; }

struct Result {
  int status;
  std::string out;
};

Result run_tokenize(const std::string& input, const std::string& flags) {
  auto dir = std::filesystem::temp_directory_path();
  std::string in = (dir / ("msa_tok_cli_in_" + std::to_string(::getpid()))).string();
  std::ofstream(in) << input;
  std::string cmd = std::string(MSA_BINARY) + " tokenize --tokenizer '" + qwen_path() + "' " + flags + " < '" + in +
                    "' 2>&1";
  Result r{0, {}};
  FILE* p = popen(cmd.c_str(), "r");
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  r.status = pclose(p);
  std::remove(in.c_str());
  return r;
}

}  // namespace

TEST(TokenizeCli, EncodeDecodeAndBadLines) {
  if (!std::filesystem::exists(qwen_path())) GTEST_SKIP() << "Qwen3 tokenizer not fetched (scripts/fetch_tokenizer.sh)";
  Result plain = run_tokenize("\"<|im_start|>user\\n\"\n", "");
  EXPECT_EQ(plain.status, 0);
  EXPECT_EQ(plain.out, "[27,91,318,4906,91,29,872,198]\n");
  Result special = run_tokenize("\"<|im_start|>user\\n\"\n\"Hello world\"\n", "--special");
  EXPECT_EQ(special.status, 0);
  EXPECT_EQ(special.out, "[151644,872,198]\n[9707,1879]\n");
  Result bad = run_tokenize("\"a\"\n{oops\n[1]\n\"b\"\n", "");
  EXPECT_NE(bad.status, 0);
  EXPECT_NE(bad.out.find("error: line 2: invalid JSON"), std::string::npos) << bad.out;
  EXPECT_NE(bad.out.find("error: line 3: "), std::string::npos) << bad.out;
  EXPECT_NE(bad.out.find("[64]\n"), std::string::npos);
  EXPECT_NE(bad.out.find("[65]\n"), std::string::npos);
  Result dec = run_tokenize("[151644,872,198,9707]\n[-5]\n", "--decode");
  EXPECT_NE(dec.status, 0);
  EXPECT_NE(dec.out.find("\"<|im_start|>user\\nHello\"\n"), std::string::npos) << dec.out;
  EXPECT_NE(dec.out.find("error: line 2: element 0: -5 is not a token id"), std::string::npos) << dec.out;
  Result skip = run_tokenize("[151644,872,198,9707]\n", "--decode --skip-special");
  EXPECT_EQ(skip.out, "\"user\\nHello\"\n");
}
