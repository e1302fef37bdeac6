#include "server/cgroup_partition.h"

#include <gtest/gtest.h>

namespace vmmap {
namespace {

TEST(CgroupPartitionTest, LibvirtEscapesComponentsWithoutADot) {
  EXPECT_EQ(LibvirtPartitionDir("/vmmap"), "vmmap.partition");
  EXPECT_EQ(LibvirtPartitionDir("/kubepods/burstable/pod1"),
            "kubepods.partition/burstable.partition/pod1.partition");
  EXPECT_EQ(LibvirtPartitionDir("/a.slice/b"), "a.slice/b.partition");
}

}  // namespace
}  // namespace vmmap
