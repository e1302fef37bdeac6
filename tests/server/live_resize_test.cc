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
