#include "mapper/planner.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "mapper/annotations.h"
#include "mapper/cpuset.h"
#include "mapper/domain_identity.h"
#include "mapper/kubelet_math.h"

namespace vmmap {
namespace {

using ::testing::HasSubstr;

PodSandboxInput Pod(int64_t cpu_limit_milli, int64_t memory_limit_bytes) {
  PodSandboxInput in;
  in.identity = {"web", "shop", "6b1c5a0e-8f0a-4a39-9d53-1b2f0c7d9e11", 0};
  in.pod_resources.cpu_period_us = kDefaultQuotaPeriodUs;
  in.pod_resources.cpu_quota_us = MilliCpuToQuota(cpu_limit_milli, kDefaultQuotaPeriodUs);
  in.pod_resources.cpu_shares = MilliCpuToShares(cpu_limit_milli);
  in.pod_resources.memory_limit_bytes = memory_limit_bytes;
  in.container_resources = in.pod_resources;
  return in;
}

DomainPlan Plan(const PodSandboxInput& in, const NodeConfig& node = NodeConfig()) {
  absl::StatusOr<DomainPlan> plan = PlanDomain(in, node);
  EXPECT_TRUE(plan.ok()) << plan.status();
  return *plan;
}

TEST(VcpuTest, DerivedFromLimitRoundedUp) {
  EXPECT_EQ(Plan(Pod(1500, 512 * kMiB)).spec.vcpus, 2);
  EXPECT_EQ(Plan(Pod(100, 512 * kMiB)).spec.vcpus, 1);
  EXPECT_EQ(Plan(Pod(2000, 512 * kMiB)).spec.vcpus, 2);
  EXPECT_EQ(Plan(Pod(0, 512 * kMiB)).spec.vcpus, 1);
}

TEST(VcpuTest, DerivedCountCappedAtNodeMaximumWithWarning) {
  NodeConfig node;
  node.max_vcpus = 4;
  DomainPlan plan = Plan(Pod(40000, kGiB), node);
  EXPECT_EQ(plan.spec.vcpus, 4);
  ASSERT_FALSE(plan.explanation.warnings.empty());
  EXPECT_THAT(plan.explanation.warnings[0], HasSubstr("node maximum 4"));
}

TEST(VcpuTest, AnnotationsWinAndAreChecked) {
  PodSandboxInput in = Pod(1500, 512 * kMiB);
  in.annotations[kVcpusAnnotation] = "3";
  EXPECT_EQ(Plan(in).spec.vcpus, 3);
  in.annotations.clear();
  in.annotations[kVirtletVcpusAnnotation] = "2";
  EXPECT_EQ(Plan(in).spec.vcpus, 2);

  for (const char* bad : {"0", "-1", "2.5", "17", "", " 2", "2 ", "0x2", "1e1", "99999999999"}) {
    PodSandboxInput b = Pod(1500, 512 * kMiB);
    b.annotations[kVcpusAnnotation] = bad;
    absl::StatusOr<DomainPlan> plan = PlanDomain(b, NodeConfig());
    ASSERT_FALSE(plan.ok()) << bad;
    EXPECT_EQ(plan.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(plan.status().message(), HasSubstr("vmmap.io/vcpus"));
  }
  PodSandboxInput both = Pod(1500, 512 * kMiB);
  both.annotations[kVcpusAnnotation] = "2";
  both.annotations[kVirtletVcpusAnnotation] = "4";
  EXPECT_THAT(PlanDomain(both, NodeConfig()).status().message(), HasSubstr("disagree"));
}

TEST(CpuSplitTest, QuotaSharedBetweenVcpusAndEmulator) {
  PodSandboxInput in = Pod(1500, 512 * kMiB);
  in.annotations[kVcpusAnnotation] = "2";
  const CpuTune t = Plan(in).spec.cputune;
  EXPECT_EQ(t.global_period_us, 100000);
  EXPECT_EQ(t.global_quota_us, 150000);
  EXPECT_EQ(t.emulator_quota_us, 10000);  // node default 100m
  EXPECT_EQ(t.quota_us, 70000);           // (150000 − 10000) / 2
  EXPECT_EQ(t.period_us, 100000);
  EXPECT_EQ(t.shares, 1536);
}

TEST(CpuSplitTest, OverheadRaisesCeilingAndFundsEmulator) {
  PodSandboxInput in = Pod(1000, 512 * kMiB);
  in.overhead.cpu_period_us = kDefaultQuotaPeriodUs;
  in.overhead.cpu_quota_us = 25000;
  in.overhead.cpu_shares = 256;
  const CpuTune t = Plan(in).spec.cputune;
  EXPECT_EQ(t.global_quota_us, 125000);
  EXPECT_EQ(t.emulator_quota_us, 25000);
  EXPECT_EQ(t.quota_us, 100000);
  EXPECT_EQ(t.shares, 1024 + 256);
}

TEST(CpuSplitTest, VcpuQuotaNeverExceedsPeriod) {
  PodSandboxInput in = Pod(4000, kGiB);
  in.annotations[kVcpusAnnotation] = "2";
  const CpuTune t = Plan(in).spec.cputune;
  EXPECT_EQ(t.quota_us, 100000);
  EXPECT_EQ(t.global_quota_us, 400000);
}

TEST(CpuSplitTest, EmulatorCappedAtHalfForSmallLimits) {
  const CpuTune t = Plan(Pod(100, 256 * kMiB)).spec.cputune;
  EXPECT_EQ(t.global_quota_us, 10000);
  EXPECT_EQ(t.emulator_quota_us, 5000);
  EXPECT_EQ(t.quota_us, 5000);
}

TEST(CpuSplitTest, TooSmallToSplitKeepsGlobalCeilingAndSaysWhy) {
  PodSandboxInput in = Pod(15, 256 * kMiB);
  DomainPlan plan = Plan(in);
  EXPECT_EQ(plan.spec.cputune.global_quota_us, 1500);
  EXPECT_FALSE(plan.spec.cputune.quota_us.has_value());
  EXPECT_FALSE(plan.spec.cputune.emulator_quota_us.has_value());
  ASSERT_FALSE(plan.explanation.warnings.empty());
  EXPECT_THAT(plan.explanation.warnings[0], HasSubstr("too small to split"));
}

TEST(CpuSplitTest, NoLimitMeansSharesOnly) {
  PodSandboxInput in = Pod(0, 0);
  in.pod_resources.cpu_shares = 2;
  const CpuTune t = Plan(in).spec.cputune;
  EXPECT_EQ(t.shares, 2);
  EXPECT_FALSE(t.global_quota_us.has_value());
  EXPECT_FALSE(t.quota_us.has_value());
  EXPECT_FALSE(t.emulator_quota_us.has_value());
}

TEST(CpuSplitTest, CgroupV2UsesWeight) {
  NodeConfig node;
  node.cgroup_version = 2;
  EXPECT_EQ(Plan(Pod(1000, kGiB), node).spec.cputune.shares, SharesToWeight(1024));
}

TEST(CpuSplitTest, EmulatorAnnotation) {
  PodSandboxInput in = Pod(2000, kGiB);
  in.annotations[kEmulatorCpuAnnotation] = "300m";
  const CpuTune t = Plan(in).spec.cputune;
  EXPECT_EQ(t.emulator_quota_us, 30000);
  EXPECT_EQ(t.quota_us, 85000);

  for (const char* bad : {"5", "2001", "abc", "-10", "0.1"}) {
    PodSandboxInput b = Pod(2000, kGiB);
    b.annotations[kEmulatorCpuAnnotation] = bad;
    absl::StatusOr<DomainPlan> plan = PlanDomain(b, NodeConfig());
    ASSERT_FALSE(plan.ok()) << bad;
    EXPECT_THAT(plan.status().message(), HasSubstr("vmmap.io/emulator-cpu"));
  }
  PodSandboxInput greedy = Pod(200, kGiB);
  greedy.annotations[kEmulatorCpuAnnotation] = "195";
  EXPECT_THAT(PlanDomain(greedy, NodeConfig()).status().message(), HasSubstr("leaves less than"));
}

TEST(CpuSplitTest, StaticCpuManagerPinsOneToOne) {
  PodSandboxInput in = Pod(2000, kGiB);
  in.pod_resources.cpuset_cpus = "4-5";
  const CpuTune t = Plan(in).spec.cputune;
  ASSERT_EQ(t.vcpu_pins.size(), 2u);
  EXPECT_EQ(t.vcpu_pins[0].cpu, 4);
  EXPECT_EQ(t.vcpu_pins[1].cpu, 5);
  EXPECT_EQ(t.emulator_cpuset, "4-5");

  in.annotations[kVcpusAnnotation] = "3";
  EXPECT_THAT(PlanDomain(in, NodeConfig()).status().message(), HasSubstr("one CPU per vCPU"));
}

TEST(CpusetTest, ParsesAndFormats) {
  absl::StatusOr<std::vector<int>> cpus = ParseCpuset("0-2,5,7-8,1", "cpuset_cpus");
  ASSERT_TRUE(cpus.ok());
  EXPECT_EQ(*cpus, (std::vector<int>{0, 1, 2, 5, 7, 8}));
  EXPECT_EQ(FormatCpuset(*cpus), "0-2,5,7-8");
  for (const char* bad : {"", "a", "3-1", "1-", "-1", "1,,2", "99999"}) {
    EXPECT_FALSE(ParseCpuset(bad, "cpuset_cpus").ok()) << bad;
  }
}

TEST(MemoryTest, HardLimitIsGuestPlusModelOverhead) {
  NodeConfig node;
  DomainPlan plan = Plan(Pod(1000, 512 * kMiB), node);
  // 64Mi + 16Mi × 1 + 512Mi / 512 + 16Mi = 97Mi, on a kvm domain.
  EXPECT_EQ(plan.spec.memory_kib, 512 * 1024);
  EXPECT_EQ(*plan.spec.hard_limit_kib, (512 + 97) * 1024);
  EXPECT_TRUE(plan.spec.memory_locked);
  EXPECT_FALSE(plan.spec.tcg_code_cache_mib.has_value());
}

TEST(MemoryTest, TcgDomainsBoundAndCountTheCodeCache) {
  NodeConfig node;
  node.domain_type = DomainType::kQemu;
  DomainPlan plan = Plan(Pod(1000, 512 * kMiB), node);
  EXPECT_EQ(plan.spec.tcg_code_cache_mib, 64);
  // + the code cache and the locked extra measured under TCG (docs/capacity.md).
  EXPECT_EQ(*plan.spec.hard_limit_kib, (512 + 97 + 64 + 24) * 1024);
}

TEST(MemoryTest, DefaultGuestWithoutLimitAndMinimum) {
  EXPECT_EQ(Plan(Pod(1000, 0)).spec.memory_kib, 1024 * 1024);
  EXPECT_EQ(Plan(Pod(1000, 300 * kMiB + 123)).spec.memory_kib, 300 * 1024);
  absl::StatusOr<DomainPlan> tiny = PlanDomain(Pod(1000, 32 * kMiB), NodeConfig());
  ASSERT_FALSE(tiny.ok());
  EXPECT_THAT(tiny.status().message(), HasSubstr("below the minimum guest memory"));
  EXPECT_THAT(tiny.status().message(), HasSubstr("32Mi"));
}

TEST(MemoryTest, WarnsWhenDeclaredOverheadIsTooSmall) {
  PodSandboxInput in = Pod(1000, 512 * kMiB);
  in.overhead.memory_limit_bytes = 16 * kMiB;
  DomainPlan plan = Plan(in);
  ASSERT_FALSE(plan.explanation.warnings.empty());
  EXPECT_THAT(plan.explanation.warnings.back(), HasSubstr("under-counts"));

  in.overhead.memory_limit_bytes = kGiB;
  EXPECT_TRUE(Plan(in).explanation.warnings.empty());
}

TEST(PartitionTest, SystemdSliceBecomesLibvirtPartition) {
  NodeConfig node;
  node.cgroup_driver = CgroupDriver::kSystemd;
  PodSandboxInput in = Pod(1000, kGiB);
  in.cgroup_parent = "kubepods-burstable-pod6b1c5a0e_8f0a.slice";
  EXPECT_EQ(Plan(in, node).spec.resource_partition, "/kubepods/burstable/pod6b1c5a0e_8f0a");
  in.cgroup_parent = "/kubepods.slice/kubepods-pod12.slice";
  EXPECT_EQ(Plan(in, node).spec.resource_partition, "/kubepods/pod12");
  for (const char* bad : {"kubepods", "a--b.slice", "../x.slice", "a b.slice", ".slice"}) {
    in.cgroup_parent = bad;
    EXPECT_FALSE(PlanDomain(in, node).ok()) << bad;
  }
}

TEST(PartitionTest, CgroupfsUsesNodePartition) {
  PodSandboxInput in = Pod(1000, kGiB);
  in.cgroup_parent = "/kubepods/burstable/pod1";
  EXPECT_EQ(Plan(in).spec.resource_partition, "/vmmap");
}

TEST(IdentityTest, NamesAreBoundedUniqueAndStable) {
  PodIdentity a{std::string(253, 'a'), std::string(63, 'n'), "uid-1", 0};
  PodIdentity b = a;
  b.uid = "uid-2";
  PodIdentity c = a;
  c.attempt = 1;
  const std::string name_a = DomainNameFor(a);
  EXPECT_LE(name_a.size(), kMaxDomainNameLength);
  EXPECT_NE(name_a, DomainNameFor(b));
  EXPECT_NE(name_a, DomainNameFor(c));
  PodIdentity restarted = a;
  restarted.container_attempt = 1;
  EXPECT_NE(name_a, DomainNameFor(restarted));
  EXPECT_NE(DomainUuidFor(a), DomainUuidFor(restarted));
  EXPECT_EQ(name_a, DomainNameFor(a));
  EXPECT_NE(DomainUuidFor(a), DomainUuidFor(b));
  EXPECT_EQ(DomainUuidFor(a).size(), 36u);
  EXPECT_EQ(DomainUuidFor(a)[14], '8');  // version 8
}

TEST(IdentityTest, HostileIdentitiesAreRejected) {
  for (const char* bad : {"", "a<b", "a/b", "a\nb", "x'y", "a b", "\xff"}) {
    PodSandboxInput in = Pod(1000, kGiB);
    in.identity.name = bad;
    absl::StatusOr<DomainPlan> plan = PlanDomain(in, NodeConfig());
    ASSERT_FALSE(plan.ok()) << bad;
    EXPECT_THAT(plan.status().message(), HasSubstr("metadata.name"));
  }
}

TEST(EffectiveLimitsTest, FallsBackToContainerWhenSandboxHasNone) {
  PodSandboxInput in = Pod(1500, kGiB);
  in.pod_resources = LinuxResources();
  EXPECT_EQ(Plan(in).spec.cputune.global_quota_us, 150000);
}

}  // namespace
}  // namespace vmmap
