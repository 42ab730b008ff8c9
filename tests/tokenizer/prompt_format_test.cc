// MSA prompt formats (spec §3.2, §3.3, §4.1, §6) including the §11 test cases
// "Interleave parser" and "Answer extraction". Id-level checks use the real
// Qwen3 tokenizer (scripts/fetch_tokenizer.sh) and skip without it.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>

#include "model/prompt_format.h"
#include "model/tokenizer.h"

using namespace msa::model;

namespace {

const std::map<int64_t, std::string> kMemory = {
    {3, "Bill Watts (born May 5, 1939) is a promoter."}, {4, "Erik Watts is the son of Bill Watts."}, {12, "Doc twelve."}};
bool known(int64_t id) { return kMemory.count(id) > 0; }
std::string text_of(int64_t id) { return kMemory.at(id); }

std::string qwen_path() { return std::string(MSA_SOURCE_DIR) + "/.cache/tokenizers/qwen3/tokenizer.json"; }

const Tokenizer* qwen() {
  static std::unique_ptr<Tokenizer> tok;
  if (!tok && std::filesystem::exists(qwen_path())) tok = std::make_unique<Tokenizer>(Tokenizer::load(qwen_path()));
  return tok.get();
}

}  // namespace

TEST(PromptFormat, MemoryDocument) {
  EXPECT_EQ(format_memory_document(7, "Paris is the capital of France."),
            "<|im_start|>[7]. Paris is the capital of France.[7]<|im_end|>");
}

TEST(PromptFormat, InterleaveParserSpecCases) {
  // §11: "[12][3][12]<|object_ref_end|>" -> inject docs 3 then 12.
  auto ids = parse_generated_doc_ids("[12][3][12]<|object_ref_end|>", known);
  EXPECT_EQ(ids, (std::vector<int64_t>{3, 12}));
  EXPECT_EQ(injection_block(ids, text_of), "[3]. Bill Watts (born May 5, 1939) is a promoter.\n[12]. Doc twelve.\n"
                                           "<|object_ref_end|>");
  // §11: "[999]<|object_ref_end|>" with no doc 999 -> just the delimiter.
  auto none = parse_generated_doc_ids("[999]<|object_ref_end|>", known);
  EXPECT_TRUE(none.empty());
  EXPECT_EQ(injection_block(none, text_of), "<|object_ref_end|>");
}

TEST(PromptFormat, InterleaveParserEdgeCases) {
  auto all = [](int64_t) { return true; };
  EXPECT_EQ(parse_generated_doc_ids("Sure. The documents are [4] and [03], not [x] or [] or [-1] or [5", all),
            (std::vector<int64_t>{3, 4}));
  EXPECT_EQ(parse_generated_doc_ids("[[7]]", all), (std::vector<int64_t>{7}));
  EXPECT_EQ(parse_generated_doc_ids("[99999999999999999999999]", all), (std::vector<int64_t>{}));
  EXPECT_EQ(parse_generated_doc_ids("[\u0663]", all), (std::vector<int64_t>{3}));  // Python \d is Unicode
  EXPECT_EQ(parse_generated_doc_ids("[1\xFF]", all), (std::vector<int64_t>{}));
}

TEST(PromptFormat, RestatementAndQuestionRecovery) {
  EXPECT_EQ(restatement_block("Who?"), "<|im_start|>The user's question is: Who?\n<|object_ref_end|>");
  std::string t = routed_question_text("When was Erik's father born?") + "<|im_end|>\n<|im_start|>[4]<|object_ref_end|>";
  EXPECT_EQ(recover_question(t).value(), "When was Erik's father born?");
  EXPECT_FALSE(recover_question("no question here").has_value());
  EXPECT_TRUE(needs_another_round(t));
  EXPECT_FALSE(needs_another_round(t + "The answer to the question is: x<|object_ref_end|>"));
}

TEST(PromptFormat, AnswerExtractionSpecCase) {
  EXPECT_EQ(extract_answer("\xe2\x80\xa6<|im_start|>The user's question is: Q\n<|object_ref_end|>The answer to the "
                           "question is: May 5, 1939<|im_end|>"),
            "May 5, 1939");
  EXPECT_EQ(extract_answer("The answer to the question is: a<|im_end|> The answer to the question is:  b \n<|im_end|>x"),
            "b");
  EXPECT_EQ(extract_answer("no marker here<|im_end|>tail"), "no marker here");
  EXPECT_EQ(extract_answer("The answer to the question is: unterminated  "), "unterminated");
}

TEST(PromptFormat, TemplateSplitAndFirstRoundRowIds) {
  const Tokenizer* tok = qwen();
  if (!tok) GTEST_SKIP() << "Qwen3 tokenizer not fetched (scripts/fetch_tokenizer.sh)";
  TemplateSplit t = split_prompt_template(*tok);
  EXPECT_EQ(t.prefix_text, "<|im_start|>user\n");
  EXPECT_EQ(t.tail_text, "<|im_end|>\n");
  EXPECT_EQ(t.prefix_ids, (std::vector<int32_t>{151644, 872, 198}));
  EXPECT_EQ(t.tail_ids, (std::vector<int32_t>{151645, 198}));

  TaggedIds row = first_round_row(*tok, "Who is Erik's father?");
  auto routed = tok->encode(routed_question_text("Who is Erik's father?"), true);
  ASSERT_EQ(row.ids.size(), routed.size() + 3);
  ASSERT_EQ(row.tags.size(), row.ids.size());
  for (size_t i = 0; i < routed.size(); ++i) {
    EXPECT_EQ(row.ids[i], routed[i]);
    EXPECT_EQ(row.tags[i], 0);
  }
  size_t n = row.ids.size();
  EXPECT_EQ(row.ids[n - 3], 151645);
  EXPECT_EQ(row.ids[n - 2], 198);
  EXPECT_EQ(row.ids[n - 1], 151644);
  EXPECT_EQ(row.tags[n - 3], -2);
  EXPECT_EQ(row.tags[n - 2], -2);
  EXPECT_EQ(row.tags[n - 1], -1);
  // Memory documents start with <|im_start|> and end with <|im_end|>.
  auto doc = encode_memory_document(*tok, 7, "Paris is the capital of France.");
  EXPECT_EQ(doc.front(), 151644);
  EXPECT_EQ(doc.back(), 151645);
}

TEST(PromptFormat, ReencodeRowTags) {
  const Tokenizer* tok = qwen();
  if (!tok) GTEST_SKIP() << "Qwen3 tokenizer not fetched (scripts/fetch_tokenizer.sh)";
  const std::string q = "When was Erik Watts' father born?";
  const std::string head = routed_question_text(q) + "<|im_end|>\n<|im_start|>";
  const std::string round1 = "[4]<|object_ref_end|>[4]. Erik Watts is the son of Bill Watts.\n<|object_ref_end|>";
  const std::string round2 = "[3]<|object_ref_end|>[3]. Bill Watts (born May 5, 1939) is a promoter.\n<|object_ref_end|>";
  const std::string t = head + round1 + round2;
  TaggedIds row = reencode_row(*tok, t);
  ASSERT_EQ(row.ids, tok->encode(t, true));
  ASSERT_EQ(row.tags.size(), row.ids.size());

  const std::string phrase_end = "Please return all documents related to the question";
  size_t q_end = tok->encode(t.substr(0, t.find(phrase_end) + phrase_end.size()), true).size();
  size_t doc_begin = tok->encode(head + round1 + "[3]<|object_ref_end|>", true).size();
  size_t doc_end = row.ids.size() - 1;  // the final <|object_ref_end|>
  for (size_t i = 0; i < row.tags.size(); ++i) {
    int want = (i < q_end || (i >= doc_begin && i < doc_end)) ? 0 : -1;
    EXPECT_EQ(row.tags[i], want) << "token " << i;
  }
  // Documents of the earlier round stay -1.
  EXPECT_EQ(row.tags[tok->encode(head + "[4]<|object_ref_end|>", true).size()], -1);
}
