#include "kernels/pooling.h"

#include <gtest/gtest.h>

#include <vector>

using namespace msa::kernels;

TEST(Pooling, PartialLastChunkIsMeanOfRealRows) {
  // 130 rows, P=64 -> chunks of 64, 64, 2 (spec §11).
  const int64_t n = 130, dim = 3, P = 64;
  std::vector<float> x(size_t(n * dim));
  for (int64_t j = 0; j < n; ++j)
    for (int64_t i = 0; i < dim; ++i) x[size_t(j * dim + i)] = float(j) + 0.5f * float(i);
  ASSERT_EQ(num_chunks(n, P), 3);
  std::vector<float> out(size_t(3 * dim));
  mean_pool_chunks(x.data(), n, dim, P, out.data());
  EXPECT_FLOAT_EQ(out[0], 31.5f);
  EXPECT_FLOAT_EQ(out[dim], 95.5f);
  EXPECT_FLOAT_EQ(out[2 * dim], 128.5f);  // mean of rows 128, 129
  EXPECT_FLOAT_EQ(out[2 * dim + 2], 129.5f);
  EXPECT_EQ(num_chunks(64, 64), 1);
}
