#include "mapper/startup_limits.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "mapper/domain_xml.h"
#include "mapper/kubelet_math.h"
#include "mapper/planner.h"

namespace vmmap {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

DomainSpec PlannedSpec() {
  PodSandboxInput in;
  in.identity = {"web", "shop", "6b1c5a0e-8f0a-4a39-9d53-1b2f0c7d9e11", 0};
  in.pod_resources.cpu_period_us = kDefaultQuotaPeriodUs;
  in.pod_resources.cpu_quota_us = MilliCpuToQuota(1500, kDefaultQuotaPeriodUs);
  in.pod_resources.cpu_shares = MilliCpuToShares(1500);
  in.pod_resources.memory_limit_bytes = 512 * kMiB;
  in.container_resources = in.pod_resources;
  absl::StatusOr<DomainPlan> plan = PlanDomain(in, NodeConfig());
  EXPECT_TRUE(plan.ok()) << plan.status();
  return plan->spec;
}

TEST(StartupLimitsTest, EmulatorQuotaIsDeferredToAfterStart) {
  const DomainSpec spec = PlannedSpec();
  ASSERT_TRUE(spec.cputune.emulator_quota_us.has_value());
  StartupSplit split = SplitStartupLimits(spec);
  EXPECT_FALSE(split.boot.cputune.emulator_quota_us.has_value());
  EXPECT_FALSE(split.boot.cputune.emulator_period_us.has_value());
  EXPECT_EQ(split.after_start.emulator_quota_us, spec.cputune.emulator_quota_us);
  EXPECT_EQ(split.after_start.emulator_period_us, spec.cputune.emulator_period_us);
}

TEST(StartupLimitsTest, GlobalCeilingAndVcpuQuotasStayInTheStartedXml) {
  const DomainSpec spec = PlannedSpec();
  StartupSplit split = SplitStartupLimits(spec);
  EXPECT_EQ(split.boot.cputune.global_quota_us, spec.cputune.global_quota_us);
  EXPECT_EQ(split.boot.cputune.quota_us, spec.cputune.quota_us);
  EXPECT_EQ(split.boot.hard_limit_kib, spec.hard_limit_kib);
  absl::StatusOr<std::string> xml = RenderDomainXml(split.boot);
  ASSERT_TRUE(xml.ok()) << xml.status();
  EXPECT_THAT(*xml, HasSubstr("<global_quota>150000</global_quota>"));
  EXPECT_THAT(*xml, Not(HasSubstr("emulator_quota")));
  EXPECT_THAT(*xml, Not(HasSubstr("emulator_period")));
}

TEST(StartupLimitsTest, SplitLosesNothing) {
  const DomainSpec spec = PlannedSpec();
  StartupSplit split = SplitStartupLimits(spec);
  DomainSpec merged = split.boot;
  merged.cputune.emulator_period_us = split.after_start.emulator_period_us;
  merged.cputune.emulator_quota_us = split.after_start.emulator_quota_us;
  EXPECT_EQ(*RenderDomainXml(merged), *RenderDomainXml(spec));
  EXPECT_EQ(PostStartLimitsOf(spec), split.after_start);
}

TEST(StartupLimitsTest, NothingToDeferWithoutAnEmulatorQuota) {
  DomainSpec spec = PlannedSpec();
  spec.cputune.emulator_period_us.reset();
  spec.cputune.emulator_quota_us.reset();
  EXPECT_TRUE(SplitStartupLimits(spec).after_start.empty());
}

TEST(StartupLimitsTest, ExplainMarksTheDeferredLimit) {
  PodSandboxInput in;
  in.identity = {"web", "shop", "6b1c5a0e-8f0a-4a39-9d53-1b2f0c7d9e11", 0};
  in.pod_resources.cpu_period_us = kDefaultQuotaPeriodUs;
  in.pod_resources.cpu_quota_us = MilliCpuToQuota(1500, kDefaultQuotaPeriodUs);
  in.container_resources = in.pod_resources;
  absl::StatusOr<DomainPlan> plan = PlanDomain(in, NodeConfig());
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_THAT(plan->explanation.ToText(), HasSubstr("emulator_quota (applied live after start)"));
}

}  // namespace
}  // namespace vmmap
