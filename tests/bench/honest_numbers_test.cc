// Issue 18 item 9: the rules behind every benchmark figure
// (bench/common/honest_numbers.h): no ratio to a limit probe that returned 0,
// decode bandwidth over the bytes decode streams, and no scaling efficiency
// above 1 without its explanation.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "../../bench/common/honest_numbers.h"
#include "../product/product_test_util.h"
#include "model/model.h"

using namespace msa;

TEST(HonestNumbers, NoRatioToAZeroLimit) {
  EXPECT_EQ(bench::checked_ratio(5, 2).value(), 2.5);
  EXPECT_FALSE(bench::checked_ratio(5, 0).has_value());  // was 5 / 0 = inf in the tables
  EXPECT_FALSE(bench::checked_ratio(5, -1).has_value());
  EXPECT_FALSE(bench::checked_ratio(5, std::nan("")).has_value());
  EXPECT_FALSE(bench::checked_ratio(INFINITY, 2).has_value());
  EXPECT_EXIT(bench::require_ratio(3, 0, "decode bandwidth ratio"), ::testing::ExitedWithCode(1),
              "decode bandwidth ratio: the limit probe returned 0");
}

TEST(HonestNumbers, DecodeBytesLeaveOutRouterProjections) {
  const auto dir = test_util::random_tiny_model_dir("honest_numbers");
  const auto m = model::Model::load(dir.string());
  const auto& ck = *m->weights().checkpoint;
  double all = 0, router = 0, embed = 0;
  for (const auto& n : ck.names()) {
    const double b = double(ck.find(n)->nbytes);
    all += b;
    if (n.find("router_q_proj") != std::string::npos || n.find("router_k_proj") != std::string::npos) router += b;
    if (n == "model.embed_tokens.weight") embed += b;
  }
  ASSERT_GT(router, 0) << "the tiny preset should have decoupled router projections";
  const double want = all - router - (m->weights().lm_head_tied ? 0 : embed);
  EXPECT_EQ(bench::decode_streamed_bytes(*m), want);
  EXPECT_LT(bench::decode_streamed_bytes(*m), all - embed);  // the old count included the router projections
  std::filesystem::remove_all(dir);
}

TEST(HonestNumbers, EfficiencyAboveOneComesWithItsExplanation) {
  const auto low = bench::scaling_efficiency(4, 2, 4);
  ASSERT_TRUE(low.has_value());
  EXPECT_DOUBLE_EQ(low->value, 0.5);
  EXPECT_TRUE(low->note.empty());
  const auto high = bench::scaling_efficiency(10, 2, 4);
  ASSERT_TRUE(high.has_value());
  EXPECT_DOUBLE_EQ(high->value, 1.25);
  EXPECT_NE(high->note.find("not a super-linear speedup"), std::string::npos);
  EXPECT_FALSE(bench::scaling_efficiency(10, 0, 4).has_value());  // no single-client request: no efficiency
}
