// Per-object locks: exclusive per id, independent across ids, and pruned
// when no call holds or waits for them.
#include "server/runtime/lock_table.h"

#include <atomic>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace vmmap {
namespace {

TEST(LockTableTest, ExclusivePerIdIndependentAcrossIdsAndPruned) {
  LockTable table;
  {
    LockTable::Guard a = table.Lock("a");
    EXPECT_TRUE(a.held());
    EXPECT_FALSE(table.TryLock("a").held());
    LockTable::Guard b = table.TryLock("b");
    EXPECT_TRUE(b.held());
    EXPECT_EQ(table.size(), 2u);
  }
  EXPECT_EQ(table.size(), 0u);
  EXPECT_TRUE(table.TryLock("a").held());
  EXPECT_EQ(table.size(), 0u);
}

TEST(LockTableTest, ManyThreadsOnOneIdAreSerializedAndLeaveNothing) {
  LockTable table;
  int counter = 0;  // guarded by table's "x" lock
  std::atomic<int> inside{0};
  std::atomic<bool> overlapped{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 1000; ++i) {
        LockTable::Guard g = table.Lock("x");
        if (inside.fetch_add(1) != 0) overlapped = true;
        ++counter;
        inside.fetch_sub(1);
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_FALSE(overlapped);
  EXPECT_EQ(counter, 8000);
  EXPECT_EQ(table.size(), 0u);
}

}  // namespace
}  // namespace vmmap
