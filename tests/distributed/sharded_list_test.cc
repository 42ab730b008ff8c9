// Issue 18 item 5: listing a sharded bank with an offset near the end of
// int64 overflowed offset + limit (undefined behaviour; in practice every shard
// then sent its whole catalog), and a negative offset indexed before the page.
// In one process (no mpirun: rank 0 owns every shard).
#include <gtest/gtest.h>

#include <filesystem>
#include <limits>

#include "core/error.h"
#include "distributed/mpi_comm.h"
#include "distributed/sharded_bank.h"
#include "distributed/sharded_memory.h"
#include "distributed/sharded_service.h"
#include "memory/bank.h"
#include "../product/product_test_util.h"

namespace fs = std::filesystem;
using namespace msa;

TEST(ShardedList, OffsetsAreBoundedAndChecked) {
  const fs::path model = test_util::random_tiny_model_dir("sharded_list");
  const fs::path root = fs::temp_directory_path() / ("msa_sharded_list_" + std::to_string(::getpid()));
  fs::remove_all(root);
  fs::create_directories(root);
  const std::string bank = (root / "bank").string(), shards = (root / "shards").string();
  memory::Bank::create(bank, model.string());
  {
    memory::BankOpenOptions bo;
    bo.writer = true;
    bo.model_dir = model.string();
    auto b = memory::Bank::open(bank, bo);
    std::vector<memory::NewDocument> docs;
    for (int i = 0; i < 5; ++i) docs.push_back({"document number " + std::to_string(i) + " .", "", "", ""});
    b->add_documents(docs);
  }
  const auto manifest = distributed::split_bank(bank, shards, 2);
  distributed::Comm comm;
  ASSERT_EQ(comm.size(), 1) << "run without mpirun";
  memory::BankOpenOptions bo;
  bo.model_dir = model.string();
  distributed::ShardOpenOptions so;
  so.bank = bo;
  distributed::ShardedMemory mem(comm, distributed::open_local_shards(shards, manifest, 0, 1, bo), so);
  distributed::ShardedService svc(mem);

  int64_t total = -1;
  EXPECT_EQ(svc.list({"*"}, 1, 2, &total).size(), 2u);
  EXPECT_EQ(total, 5);
  EXPECT_EQ(svc.list({"*"}, 3, -1, &total).size(), 2u);
  for (int64_t offset : {int64_t(5), int64_t(1) << 40, std::numeric_limits<int64_t>::max() - 10,
                         std::numeric_limits<int64_t>::max()}) {
    total = -1;
    EXPECT_TRUE(svc.list({"*"}, offset, 100, &total).empty()) << offset;
    EXPECT_EQ(total, 5) << offset;
  }
  try {
    svc.list({"*"}, -3, 2, &total);
    FAIL() << "a negative offset was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("offset must be >= 0 (got -3)"), std::string::npos) << e.what();
  }
  mem.shutdown();
  fs::remove_all(root);
  fs::remove_all(model);
}
