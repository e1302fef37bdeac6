// Live resize plans: the vCPU count is kept and a memory limit the running
// guest does not fit in is refused, naming the old and new values.
#include "server/runtime/live_resize.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace vmmap {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

constexpr int64_t kMiB = 1 << 20;

class LiveResizeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    sandbox_.metadata = {"pod", "uid", "ns", 0};
    current_.memory_limit_bytes = 512 * kMiB;
    current_.cpu_period_us = 100000;
    current_.cpu_quota_us = 100000;
    // The running guest got what the current limits give.
    absl::StatusOr<ResizePlan> now =
        PlanResize(sandbox_, container_, current_, current_, {2, 1}, NodeConfig());
    ASSERT_TRUE(now.ok()) << now.status();
    shape_ = {2, now->guest_memory_kib};
  }
  SandboxConfig sandbox_;
  ContainerConfig container_;
  LinuxResources current_;
  LiveDomainShape shape_;
};

TEST_F(LiveResizeTest, KeepsTheVcpuCountAndSetsEveryCpuKnob) {
  LinuxResources wanted = current_;
  wanted.cpu_quota_us = 50000;
  absl::StatusOr<ResizePlan> plan =
      PlanResize(sandbox_, container_, current_, wanted, shape_, NodeConfig());
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->vcpus, 2);
  EXPECT_TRUE(plan->cpu.global_quota && plan->cpu.quota && plan->cpu.emulator_quota);
  EXPECT_EQ(*plan->cpu.global_quota, 50000);
  EXPECT_LE(2 * *plan->cpu.quota + *plan->cpu.emulator_quota, *plan->cpu.global_quota);
}

TEST_F(LiveResizeTest, MemoryBelowTheRunningGuestIsRefusedNamingOldAndNew) {
  LinuxResources wanted = current_;
  wanted.memory_limit_bytes = 256 * kMiB;
  absl::StatusOr<ResizePlan> plan =
      PlanResize(sandbox_, container_, current_, wanted, shape_, NodeConfig());
  EXPECT_EQ(plan.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(plan.status().message()),
              AllOf(HasSubstr("memory_limit_in_bytes"), HasSubstr("268435456"),
                    HasSubstr("was 536870912"), HasSubstr(std::to_string(shape_.memory_kib))));
  wanted.memory_limit_bytes = 1024 * kMiB;  // growing the limit is fine
  EXPECT_TRUE(PlanResize(sandbox_, container_, current_, wanted, shape_, NodeConfig()).ok());
}

// The quotas of a 1-vCPU pod at `milli` (emulator 10 ms, as the node default).
virt::CpuTuneUpdate OneVcpuAt(int64_t milli) {
  virt::CpuTuneUpdate u;
  u.global_period = u.period = u.emulator_period = 100000;
  u.global_quota = milli * 100;
  u.emulator_quota = 10000;
  u.quota = milli * 100 - 10000;
  return u;
}

TEST(OrderedCpuUpdatesTest, TheCeilingRisesBeforeTheSlicesAndFallsAfterThem) {
  // 200m -> 1000m: the 90 ms vCPU quota only fits under the new ceiling.
  std::vector<virt::CpuTuneUpdate> up = OrderedCpuUpdates(OneVcpuAt(200), OneVcpuAt(1000));
  ASSERT_EQ(up.size(), 2u);
  EXPECT_EQ(up[0].global_quota, 100000);
  EXPECT_FALSE(up[0].quota);
  EXPECT_EQ(up[1].quota, 90000);
  EXPECT_FALSE(up[1].global_quota);
  // 1000m -> 200m: the vCPU quota comes down first.
  std::vector<virt::CpuTuneUpdate> down = OrderedCpuUpdates(OneVcpuAt(1000), OneVcpuAt(200));
  ASSERT_EQ(down.size(), 2u);
  EXPECT_EQ(down[0].quota, 10000);
  EXPECT_EQ(down[1].global_quota, 20000);
  // Lifting the limit (-1) is a rise; setting one where there was none, a fall.
  virt::CpuTuneUpdate unlimited = OneVcpuAt(1000);
  unlimited.global_quota = unlimited.quota = unlimited.emulator_quota = -1;
  EXPECT_EQ(OrderedCpuUpdates(OneVcpuAt(200), unlimited)[0].global_quota, -1);
  EXPECT_EQ(OrderedCpuUpdates(unlimited, OneVcpuAt(200))[1].global_quota, 20000);
  // A ceiling compared per period: 20 ms of 50 ms is more than 30 ms of 100 ms.
  virt::CpuTuneUpdate short_period = OneVcpuAt(300);
  short_period.global_period = 50000;
  short_period.global_quota = 20000;
  EXPECT_TRUE(OrderedCpuUpdates(OneVcpuAt(300), short_period)[0].global_quota);
  // Nothing but the slices: one call.
  virt::CpuTuneUpdate shares_only;
  shares_only.shares = 1024;
  EXPECT_EQ(OrderedCpuUpdates(OneVcpuAt(200), shares_only).size(), 1u);
}

TEST(LiveDomainShapeTest, ReadsVcpusAndMemoryOrSaysWhatIsMissing) {
  absl::StatusOr<LiveDomainShape> shape = ShapeOfDomainXml(
      "<domain><vcpu placement='static'>2</vcpu><memory unit='KiB'>524288</memory></domain>");
  ASSERT_TRUE(shape.ok()) << shape.status();
  EXPECT_EQ(shape->vcpus, 2);
  EXPECT_EQ(shape->memory_kib, 524288);
  EXPECT_EQ(ShapeOfDomainXml("<domain><vcpu>2</vcpu></domain>").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ShapeOfDomainXml("not xml").status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace vmmap
